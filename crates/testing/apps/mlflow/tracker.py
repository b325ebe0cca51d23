#!/usr/bin/env python3
"""Makes a database the way an MLflow tracking server does: the schema of
MLflow's tracking store and model registry, made by MLflow itself (its
initial tables, then its Alembic migrations, as SqlAlchemyStore and
`mlflow db upgrade` do on an empty database), then filled through MLflow's
client API: experiments, runs with params, tags and metric histories,
nested and deleted runs, dataset inputs, logged models, traces with spans,
registered models with versions, aliases, tags and stages.

    python3 tracker.py URL [RUNS]       migrate, then fill (RUNS 0: migrate only)
    python3 tracker.py migrate URL      migrate only
    python3 tracker.py dump URL         every object read back through the
                                        client, as canonical JSON
    python3 tracker.py write URL        the tracker writes: a new experiment
                                        and run, metrics, a deleted and
                                        restored run, a new model version
    python3 tracker.py gc URL           what `mlflow gc` does to the database:
                                        every deleted run and experiment
                                        deleted for good, with what belongs
                                        to them
    python3 tracker.py count URL WHAT   how many: experiments (active), runs
                                        (active), deleted-runs, metrics
                                        (history points), params, models,
                                        versions, traces

URL is postgres://user@host:port/db, mysql://user@host:port/db or
sqlite:///path/to/file.db. Needs MLflow; .ci/services installs it into a
virtual environment of its own (pinned in requirements.txt).

While migrating and filling, MLflow's clock and its random ids (uuid4,
trace and span ids) follow fixed sequences and traces record a fixed user
and script, so that two databases made alike hold the same rows, ids and
timestamps included, whatever the engine; the dump then leaves nothing out.
write uses the real clock and real ids.
"""

import enum
import json
import logging
import math
import os
import random
import sys
import uuid
import warnings
from urllib.parse import quote, urlparse

# where the experiments' artifacts would be: never written to, but fixed, so
# that it does not follow the directory the script runs in
ARTIFACTS = "s3://tresor-mlflow-artifacts"
# 2024-03-01T00:00:00Z, where the clock of a database being made starts
EPOCH = 1709251200000


def sqlalchemy_url(url):
    u = urlparse(url)
    user = quote(u.username or "", safe="")
    if u.password:
        user += ":" + quote(u.password, safe="")
    db = u.path.lstrip("/")
    host = u.hostname or "127.0.0.1"
    if u.scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg2://{user or 'postgres'}@{host}:{u.port or 5432}/{db}"
    if u.scheme in ("mysql", "mariadb"):
        return f"mysql+pymysql://{user or 'root'}@{host}:{u.port or 3306}/{db}?charset=utf8mb4"
    if u.scheme == "sqlite":
        return f"sqlite:///{u.path}"
    raise SystemExit(f"unsupported url {url}")


def quiet():
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # traces written before their call returns, not by a thread of their own:
    # in order, and with their spans in the tracking store (logged in the
    # background, a trace is at times taken for one whose spans go to the
    # artifact store)
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    warnings.filterwarnings("ignore")
    import mlflow  # noqa: F401  (which sets its loggers up: quietened after)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def fixed_clock_and_ids(seed):
    """For as long as this process runs: MLflow's clock ticks a millisecond
    a call from EPOCH, uuid4 and the random module draw from seeded
    generators, and a trace records a fixed user and script."""
    import mlflow.store.model_registry.sqlalchemy_store  # noqa: F401
    import mlflow.store.tracking.dbmodels.models  # noqa: F401
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    import mlflow.utils.time

    real = mlflow.utils.time.get_current_time_millis
    now = [EPOCH]

    def clock():
        now[0] += 1
        return now[0]

    for name, module in list(sys.modules.items()):
        if name.startswith("mlflow") and getattr(module, "get_current_time_millis", None) is real:
            module.get_current_time_millis = clock
    ids = random.Random(seed)
    uuid.uuid4 = lambda: uuid.UUID(int=ids.getrandbits(128), version=4)
    # trace and span ids come from OpenTelemetry's generator, which draws
    # from the random module
    random.seed(seed)
    # what a trace records of the process that made it (user, script path,
    # git commit of the working directory)
    import mlflow.tracing.processor.base_mlflow as processor
    processor.resolve_env_metadata = lambda: {
        "mlflow.user": "tresor", "mlflow.source.name": "tracker.py", "mlflow.source.type": "LOCAL"}


def migrate(url):
    """The schema as MLflow makes it on an empty database; the store also
    makes the experiment "Default" (id 0)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as Registry
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    SqlAlchemyStore(url, ARTIFACTS)
    Registry(url)


def client(url):
    import mlflow
    from mlflow.tracking import MlflowClient
    # the registry looks up logged models (sources models:/m-...) through the
    # global tracking URI
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    return MlflowClient(tracking_uri=url, registry_uri=url)


WORDS = ["sikkerhetskopi", "Wiederherstellung", "restaurare", "backup", "tresor",
         "Datenbank", "bază de date", "ünïcødé ✓", "snapshot", "𝔡𝔞𝔱𝔞"]


def fill(url, runs):
    from mlflow.entities import (Dataset, DatasetInput, InputTag, LoggedModelInput,
                                 LoggedModelOutput, Metric, Param, RunTag)

    c = client(url)
    rnd = random.Random(11)
    experiments = []
    for i, name in enumerate(["Kundenabwanderung", "prévision-ventes", "tresor/ablation", "leere"]):
        experiments.append(c.create_experiment(
            name, artifact_location=f"{ARTIFACTS}/{i + 1}",
            tags={"team": rnd.choice(["ml", "data", "ops"]),
                  "beschreibung": " ".join(rnd.sample(WORDS, 3)),
                  "mlflow.note.content": f"# Experiment {i}\n\nnotes «{name}»"}))
    c.delete_experiment(experiments[3])

    columns = [{"type": "double", "name": "umsatz"}, {"type": "string", "name": "land"}]
    datasets = [Dataset(name=f"kunden-{i}", digest=f"{rnd.getrandbits(64):016x}",
                        source_type="local",
                        source=json.dumps({"uri": f"/data/kunden-{i}.parquet"}),
                        schema=json.dumps({"mlflow_colspec": columns}),
                        profile=json.dumps({"num_rows": 1000 * (i + 1),
                                            "num_elements": 2000 * (i + 1)}))
                for i in range(3)]

    made = []
    logged = []
    for i in range(runs):
        experiment = experiments[i % 3]
        # every fifth run nested in the one before it in its experiment
        parent = made[i - 3][0] if i % 5 == 4 and i >= 3 else None
        start = EPOCH + 3_600_000 * i
        tags = {"modell": rnd.choice(["xgboost", "lineær", "transformer"]), "versuch": str(i)}
        if parent:
            tags["mlflow.parentRunId"] = parent
        run = c.create_run(experiment, start_time=start, tags=tags, run_name=f"lauf-{i:03d}")
        run_id = run.info.run_id
        params = [Param("lr", repr(round(rnd.uniform(1e-4, 1e-1), 6))),
                  Param("epochen", str(rnd.randint(1, 50))),
                  Param("optimierer", rnd.choice(["adam", "sgd", "adamw"])),
                  Param("notiz", " ".join(rnd.choice(WORDS) for _ in range(4)))]
        metrics = []
        for step in range(rnd.randint(3, 8)):
            ts = start + 60_000 * step + rnd.randint(0, 999)
            metrics.append(Metric("loss", round(2.0 / (step + 1) + rnd.random() / 10, 6), ts, step))
            metrics.append(Metric("accuracy", rnd.random(), ts, step))
        if i % 7 == 3:
            # values an engine could mangle: NaN, infinities, a tiny and a huge double
            metrics += [Metric("grad_norm", v, start + 1 + n, n) for n, v in enumerate(
                [math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308])]
        # the same step logged twice with different timestamps
        metrics.append(Metric("loss", 0.5, start + 1, 0))
        c.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("seed", str(i * 31))])
        c.set_tag(run_id, "mlflow.note.content", f"Lauf {i}: {rnd.choice(WORDS)}")
        if i % 2 == 0:
            ds = datasets[i % 3]
            context = InputTag("mlflow.data.context", rnd.choice(["training", "eval"]))
            c.log_inputs(run_id, [DatasetInput(ds, tags=[context])])
        if i % 4 == 2 and logged:
            # a run that takes a model in
            c.log_inputs(run_id, models=[LoggedModelInput(logged[-1])])
        if i % 4 == 0:
            model = c.create_logged_model(experiment, name=f"modell-{i}", source_run_id=run_id,
                                          tags={"rahmenwerk": "sklearn"},
                                          params={"tiefe": str(i % 4 + 2)}, model_type="classifier")
            c.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
            # a metric of the model on a dataset
            ds = datasets[i % 3]
            c.log_batch(run_id, metrics=[Metric("auc", round(rnd.random(), 6), start + 500_000, 0,
                                                model_id=model.model_id, dataset_name=ds.name,
                                                dataset_digest=ds.digest)])
            c.finalize_logged_model(model.model_id, "READY")
            logged.append(model.model_id)
        status = "FAILED" if i % 9 == 8 else "FINISHED"
        c.set_terminated(run_id, status=status, end_time=start + 600_000 + i)
        made.append((run_id, experiment))
    for run_id, _ in made[2::6]:
        c.delete_run(run_id)
    if made:
        running = c.create_run(experiments[0], start_time=EPOCH - 1, run_name="läuft")
        c.set_terminated(running.info.run_id, status="RUNNING")

    # traces of a question-answering chain, a root span with children, some
    # linked to runs; spans land in a table with a generated column
    for t in range(max(1, runs // 5)):
        experiment = experiments[t % 3]
        start = (EPOCH + 86_400_000 * (t + 1)) * 1_000_000
        question = f"Wie stelle ich {rnd.choice(WORDS)} wieder her? #{t}"
        root = c.start_trace("frage", span_type="CHAIN", inputs={"frage": question},
                             attributes={"sprache": rnd.choice(["de", "nb", "fr"])},
                             tags={"kunde": f"kunde-{t}"}, experiment_id=experiment,
                             start_time_ns=start,
                             run_id=made[t][0] if t % 2 == 0 and len(made) > t else None)
        at = start
        steps = [("abruf", "RETRIEVER"), ("llm", "LLM"), ("parser", "PARSER")][:t % 3 + 1]
        for s, (name, kind) in enumerate(steps):
            span = c.start_span(name, trace_id=root.trace_id, parent_id=root.span_id,
                                span_type=kind, inputs={"q": question, "k": s + 1},
                                start_time_ns=at + 1_000_000)
            at += rnd.randint(2, 900) * 1_000_000
            c.end_span(root.trace_id, span.span_id, outputs={"treffer": rnd.sample(WORDS, 2)},
                       status="ERROR" if t % 4 == 3 and s == 0 else "OK", end_time_ns=at)
        c.end_trace(root.trace_id, outputs={"antwort": " ".join(rnd.sample(WORDS, 4))},
                    end_time_ns=at + 5_000_000)
        c.set_trace_tag(root.trace_id, "bewertet", str(t % 2 == 0).lower())

    finished = [r for r, _ in made]
    for m, name in enumerate(["abwanderung", "prévision"]):
        c.create_registered_model(name, tags={"eigentümer": f"team-{m}"},
                                  description=f"Modell «{name}»")
        for v in range(3):
            run_id = finished[(m * 3 + v) % len(finished)] if finished else None
            # the third version made from a logged model, as mlflow.register_model does
            if v == 2 and len(logged) > m:
                source, run_id = f"models:/{logged[m]}", None  # the model's run
            else:
                source = f"{ARTIFACTS}/modelle/{name}/{v}"
            version = c.create_model_version(name, source=source, run_id=run_id,
                                             tags={"geprüft": str(v % 2 == 0).lower()},
                                             description=f"Version {v + 1}")
            c.set_model_version_tag(name, version.version, "genauigkeit", f"{rnd.random():.4f}")
        c.set_registered_model_alias(name, "champion", "2")
        c.set_registered_model_alias(name, "herausforderer", "3")
        c.set_registered_model_tag(name, "domäne", "kunden")
        c.transition_model_version_stage(name, "2", "Production")
        c.transition_model_version_stage(name, "1", "Archived")
    c.create_registered_model("leer")
    c.create_registered_model("weg")
    c.delete_registered_model("weg")


def pages(call, **kwargs):
    token = None
    while True:
        page = call(page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


def plain(value):
    """An MLflow entity as plain data: its properties, recursively."""
    from mlflow.entities._mlflow_object import _MlflowObject
    if isinstance(value, _MlflowObject):
        return {k: plain(v) for k, v in value}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        # not JSON: spelt out
        return repr(value)
    if isinstance(value, enum.Enum):
        return value.name
    return value


def key(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def dump(url):
    from mlflow.entities import ViewType
    c = client(url)
    experiments = list(pages(c.search_experiments, view_type=ViewType.ALL, max_results=1000))
    ids = [e.experiment_id for e in experiments]
    out = {"experiments": sorted((plain(e) for e in experiments),
                                 key=lambda e: int(e["experiment_id"]))}
    runs = []
    for found in pages(c.search_runs, experiment_ids=ids, run_view_type=ViewType.ALL,
                       max_results=1000):
        # read one by one: search_runs leaves the models a run takes in out
        run = c.get_run(found.info.run_id)
        r = plain(run)
        r["metric_history"] = {
            k: sorted((plain(m) for m in c.get_metric_history(run.info.run_id, k)), key=key)
            for k in run.data.metrics}
        for ds in r["inputs"]["dataset_inputs"]:
            ds["tags"].sort(key=key)
        for field in ("dataset_inputs", "model_inputs"):
            r["inputs"][field].sort(key=key)
        r["outputs"]["model_outputs"].sort(key=key)
        runs.append(r)
    out["runs"] = sorted(runs, key=lambda r: r["info"]["run_id"])
    traces = []
    for t in pages(c.search_traces, experiment_ids=ids, max_results=100, include_spans=True):
        d = t.to_dict()
        d["data"]["spans"].sort(key=lambda span: span["span_id"])
        traces.append(d)
    out["traces"] = sorted(traces, key=lambda t: t["info"]["trace_id"])
    out["logged_models"] = sorted(
        (plain(m) for m in pages(c.search_logged_models, experiment_ids=ids, max_results=100)),
        key=lambda m: m["model_id"])
    models = []
    for m in pages(c.search_registered_models, max_results=1000):
        d = plain(m)
        d["latest_versions"] = sorted(d["latest_versions"], key=lambda v: int(v["version"]))
        # read one by one: search_model_versions leaves the aliases out
        d["versions"] = sorted(
            (plain(c.get_model_version(m.name, v.version))
             for v in pages(c.search_model_versions, filter_string=f"name = '{m.name}'",
                            max_results=1000)),
            key=lambda v: int(v["version"]))
        for v in d["versions"]:
            v["aliases"] = sorted(v["aliases"])
            # where the registry keeps the files (a models:/ source resolved)
            v["download_uri"] = c.get_model_version_download_uri(m.name, str(v["version"]))
        models.append(d)
    out["registered_models"] = sorted(models, key=lambda m: m["name"])
    print(json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False))


def write(url):
    from mlflow.entities import Metric, Param, RunTag
    c = client(url)
    name = f"nach-der-wiederherstellung-{uuid.uuid4().hex[:8]}"
    experiment = c.create_experiment(name, artifact_location=f"{ARTIFACTS}/{name}",
                                     tags={"nach": "umzug"})
    run = c.create_run(experiment, run_name="nach dem Umzug", tags={"phase": "nachher"})
    run_id = run.info.run_id
    c.log_batch(run_id,
                metrics=[Metric("loss", 1.0 / (s + 1), 1_800_000_000_000 + s, s) for s in range(5)],
                params=[Param("lr", "0.01")], tags=[RunTag("geschrieben", "nach dem Umzug")])
    c.log_metric(run_id, "accuracy", 0.93, step=5)
    c.set_tag(run_id, "status", "geprüft")
    c.set_terminated(run_id)
    c.delete_run(run_id)
    c.restore_run(run_id)
    back = c.get_run(run_id)
    if back.info.lifecycle_stage != "active" or back.data.params.get("lr") != "0.01" \
            or back.data.tags.get("status") != "geprüft":
        raise SystemExit(f"the run just written reads back as {back}")
    if len(c.get_metric_history(run_id, "loss")) != 5:
        raise SystemExit("the loss just logged has not 5 points")
    models = list(pages(c.search_registered_models, max_results=1000))
    if not models:
        raise SystemExit("no registered model to add a version to")
    model = sorted(m.name for m in models)[0]
    version = c.create_model_version(model, source=f"{ARTIFACTS}/{name}/modell", run_id=run_id,
                                     tags={"nach": "umzug"})
    c.set_registered_model_alias(model, "nach-umzug", version.version)
    if c.get_model_version_by_alias(model, "nach-umzug").version != version.version:
        raise SystemExit(f"the alias does not lead to version {version.version} of {model}")
    print(f"wrote experiment {experiment}, run {run_id}, version {version.version} of {model}")


def gc(url):
    """`mlflow gc` on the database: MLflow's own garbage collection (every
    run and logged model in the deleted stage, then each deleted experiment
    with its runs, deleted for good), run in-process with its artifact half
    left out, since the store's artifact location is never written to."""
    import mlflow.cli
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    class NoArtifacts:
        def delete_artifacts(self, *args, **kwargs):
            pass

    mlflow.cli.get_artifact_repository = lambda uri: NoArtifacts()
    mlflow.cli._gc_tracking_resources(
        backend_store=SqlAlchemyStore(url, ARTIFACTS), run_ids=None, experiment_ids=None,
        logged_model_ids=None, older_than=None, time_delta=0, skip_experiments=False,
        skip_logged_models=False, ignore_not_found=False)


def count(url, what):
    from mlflow.entities import ViewType
    c = client(url)
    ids = [e.experiment_id for e in pages(c.search_experiments, view_type=ViewType.ALL,
                                          max_results=1000)]

    def runs(view):
        return list(pages(c.search_runs, experiment_ids=ids, run_view_type=view, max_results=1000))

    if what == "experiments":
        return len(list(pages(c.search_experiments, max_results=1000)))
    if what == "runs":
        return len(runs(ViewType.ACTIVE_ONLY))
    if what == "deleted-runs":
        return len(runs(ViewType.DELETED_ONLY))
    if what == "metrics":
        return sum(len(c.get_metric_history(r.info.run_id, k))
                   for r in runs(ViewType.ALL) for k in r.data.metrics)
    if what == "params":
        return sum(len(r.data.params) for r in runs(ViewType.ALL))
    if what == "models":
        return len(list(pages(c.search_registered_models, max_results=1000)))
    if what == "versions":
        return len(list(pages(c.search_model_versions, max_results=1000)))
    if what == "traces":
        return len(list(pages(c.search_traces, experiment_ids=ids, max_results=100,
                              include_spans=False)))
    raise SystemExit(f"count what? {what}")


def main():
    args = sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    quiet()
    if args[0] == "dump":
        dump(sqlalchemy_url(args[1]))
    elif args[0] == "write":
        try:
            write(sqlalchemy_url(args[1]))
        except Exception as e:  # the message, not a traceback of MLflow's insides
            raise SystemExit(f"tracker.py write {args[1]}: {type(e).__name__}: {e}") from None
    elif args[0] == "gc":
        gc(sqlalchemy_url(args[1]))
    elif args[0] == "count":
        print(count(sqlalchemy_url(args[1]), args[2]))
    else:
        url = sqlalchemy_url(args[1] if args[0] == "migrate" else args[0])
        runs = 0 if args[0] == "migrate" else int(args[1]) if len(args) > 1 else 20
        fixed_clock_and_ids(seed=5)
        migrate(url)
        if runs:
            fill(url, runs)


if __name__ == "__main__":
    main()
