// tresor: a little progressive enhancement. Every page works without it.
"use strict";

function el(id) { return document.getElementById(id); }

// Live progress and log of a running job, by polling the JSON API.
function followJob(box) {
  const id = box.dataset.job;
  let after = 0;
  document.querySelectorAll("#job-log span[data-id]").forEach((s) => {
    after = Math.max(after, Number(s.dataset.id));
  });
  async function tick() {
    try {
      const [job, logs] = await Promise.all([
        fetch(`/api/v1/jobs/${id}`, { credentials: "same-origin" }).then((r) => r.json()),
        fetch(`/api/v1/jobs/${id}/logs?after=${after}`, { credentials: "same-origin" }).then((r) => r.json()),
      ]);
      const log = el("job-log");
      for (const l of logs.lines || []) {
        const span = document.createElement("span");
        span.className = l.level;
        span.dataset.id = l.id;
        span.textContent = `${l.at.slice(11, 19)} ${l.message}\n`;
        log.appendChild(span);
        after = Math.max(after, l.id);
      }
      const state = el("job-state");
      state.textContent = job.state;
      state.className = `state ${job.state}`;
      const p = job.progress;
      if (p) {
        el("job-progress").textContent = `${p.step} · ${p.rows} rows · ${p.tables_done} tables done`;
      }
      if (job.state === "queued" || job.state === "running") {
        setTimeout(tick, 1000);
      } else {
        // Show the result, the error and the notifications as rendered.
        setTimeout(() => location.reload(), 300);
      }
    } catch (e) {
      setTimeout(tick, 3000);
    }
  }
  setTimeout(tick, 700);
}

document.addEventListener("DOMContentLoaded", () => {
  const box = el("job");
  if (box && box.dataset.active === "true") followJob(box);
  const refresh = document.querySelector("[data-refresh]");
  if (refresh) setTimeout(() => location.reload(), Number(refresh.dataset.refresh) * 1000);
  // the error page's Back link: the page before (pages allow no inline
  // script, so this lives here)
  document.querySelectorAll("a[data-back]").forEach((a) => {
    a.addEventListener("click", (ev) => {
      if (history.length > 1) {
        ev.preventDefault();
        history.back();
      }
    });
  });
  const secret = el("secret");
  if (secret) secret.addEventListener("click", () => secret.select());
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (ev) => {
      if (!confirm(f.dataset.confirm)) ev.preventDefault();
    });
  });
});
