#!/usr/bin/env python3
"""Makes a database the way a Wagtail site does: Wagtail's own migrations
(about fifty tables: pages in a tree, revisions, workflows, a search index
that is a full-text table of SQLite, tsvector columns with GIN indexes in
PostgreSQL, FULLTEXT keys in MariaDB) and a blog app's, applied by migrate;
then pages, users, tags and documents made through Wagtail's own API, and
the search index built by update_index.

    python3 site.py URL [PAGES]      migrate, then fill (PAGES 0: migrate only)
    python3 site.py dump URL         every object through Django's serializer
                                     (the search index left out: it is rebuilt)
    python3 site.py search URL TERM  how many pages the site's search finds
    python3 site.py write URL        the site writes: a new page in the tree,
                                     an edit, a revision, the index updated
    python3 site.py update-index URL rebuild the search index (after a move)
    python3 site.py migrate URL [APP NAME]
                                     migrate (an upgrade), or take APP back to
                                     its migration NAME (`zero`: all undone)

URL is postgres://user@host:port/db, mysql://user@host:port/db or
sqlite:///path/to/file.db. Needs Wagtail; .ci/services installs it into a
virtual environment of its own (pinned in requirements.txt).
"""

import datetime
import json
import os
import random
import sys
import tempfile
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from django_database import database  # noqa: E402


def setup(url):
    from django.conf import settings
    settings.configure(
        DEBUG=False,
        SECRET_KEY="a test site",
        USE_TZ=True,
        TIME_ZONE="UTC",
        DATABASES={"default": database(url)},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "blog",
            "wagtail.contrib.forms",
            "wagtail.contrib.redirects",
            "wagtail.embeds",
            "wagtail.sites",
            "wagtail.users",
            "wagtail.snippets",
            "wagtail.documents",
            "wagtail.images",
            "wagtail.search",
            "wagtail.admin",
            "wagtail",
            "modelcluster",
            "taggit",
            "django_filters",
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
        ],
        MEDIA_ROOT=tempfile.mkdtemp(prefix="tresor-wagtail-media-"),
        STATIC_URL="/static/",
        WAGTAIL_SITE_NAME="tresor test site",
        WAGTAILADMIN_BASE_URL="http://example.com",
        WAGTAILSEARCH_BACKENDS={"default": {"BACKEND": "wagtail.search.backends.database"}},
        SILENCED_SYSTEM_CHECKS=["models.W036"],
    )
    import django
    django.setup()


def quiet(command, *args, **kwargs):
    from django.core.management import call_command
    call_command(command, *args, verbosity=0, **kwargs)


def fill(pages):
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from wagtail.documents.models import Document
    from wagtail.models import Collection, Page

    from blog.models import BlogIndexPage, BlogPage

    rnd = random.Random(7)
    users = get_user_model()
    editor = users.objects.create_superuser("editor", "editor@example.com", "pw")
    for i in range(12):
        users.objects.create_user(f"leser{i}", f"leser{i}@example.no", "pw",
                                  first_name=f"Jørgen {i}", last_name="Müller-Ødegård")
    root = Page.objects.get(depth=1)
    blog = BlogIndexPage(title="Blogg", slug="blogg", intro="<p>Alles über «Backups»</p>")
    root.add_child(instance=blog)
    blog.save_revision(user=editor).publish()
    words = ["sikkerhetskopi", "Wiederherstellung", "restaurare", "backup", "tresor",
             "Datenbank", "bază de date", "ünïcødé ✓", "snapshot"]
    for i in range(pages):
        post = BlogPage(
            title=f"Innlegg {i}: {rnd.choice(words)}",
            slug=f"innlegg-{i}",
            date=datetime.date(2024, 1, 1) + datetime.timedelta(days=i * 3),
            intro=" ".join(rnd.choice(words) for _ in range(6)),
            body=[("heading", f"Kapittel {i}"),
                  ("paragraph", f"<p>{' '.join(rnd.choice(words) for _ in range(20))}</p>")],
            rating=None if i % 4 == 0 else Decimal(rnd.randint(0, 999)) / 100,
        )
        blog.add_child(instance=post)
        post.tags.add(rnd.choice(["db", "ops", "drill"]), f"t{i % 5}")
        revision = post.save_revision(user=editor)
        if i % 3:
            revision.publish()
    collection = Collection.get_first_root_node().add_child(name="Dokumente")
    for i in range(4):
        doc = Document(title=f"Handbuch {i}", collection=collection)
        doc.file.save(f"handbuch{i}.txt", ContentFile(b"restore drill %d" % i))
        doc.tags.add("handbuch")
    quiet("update_index")


def dump():
    from django.core import serializers
    from django.apps import apps
    left_out = {"contenttypes", "wagtailsearch", "sessions"}
    models = [m for m in apps.get_models()
              if m._meta.app_label not in left_out
              and m._meta.label != "auth.Permission"
              and not m._meta.proxy]
    objects = []
    for m in models:
        objects.extend(m._default_manager.order_by("pk"))
    data = json.loads(serializers.serialize("json", objects, use_natural_foreign_keys=True))
    data.sort(key=lambda o: (o["model"], str(o["pk"])))
    print(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False))


def search(term):
    from wagtail.models import Page
    print(len(list(Page.objects.search(term))))


def lookup():
    # a query into JSON documents (Django's key lookups, which need a JSON
    # column in PostgreSQL): the revisions whose content names each page
    from wagtail.models import Page, Revision
    print(sum(Revision.objects.filter(content__title=p.title).count() for p in Page.objects.all()))


def write():
    from django.contrib.auth import get_user_model
    from blog.models import BlogIndexPage, BlogPage
    editor = get_user_model().objects.get(username="editor")
    blog = BlogIndexPage.objects.get(slug="blogg")
    post = BlogPage(title="Etter gjenopprettingen", slug="etter", date=datetime.date(2026, 12, 6),
                    intro="skrevet etter flyttingen", body=[("heading", "Nytt")])
    blog.add_child(instance=post)
    post.save_revision(user=editor).publish()
    first = BlogPage.objects.order_by("pk").first()
    first.intro = "redigert etter flyttingen"
    first.save_revision(user=editor).publish()
    quiet("update_index")
    found = len(list(BlogPage.objects.live().search("flyttingen")))
    if found < 2:
        raise SystemExit(f"the search finds {found} of the 2 pages just written")


def main():
    args = sys.argv[1:]
    if args[:1] == ["dump"]:
        setup(args[1])
        dump()
    elif args[:1] == ["search"]:
        setup(args[1])
        search(args[2])
    elif args[:1] == ["lookup"]:
        setup(args[1])
        lookup()
    elif args[:1] == ["update-index"]:
        setup(args[1])
        quiet("update_index")
    elif args[:1] == ["migrate"]:
        setup(args[1])
        quiet("migrate", *args[2:4])
    elif args[:1] == ["write"]:
        setup(args[1])
        write()
    elif args[:1] == ["makemigrations"]:
        setup("sqlite:///" + os.path.join(tempfile.mkdtemp(), "site.db"))
        from django.core.management import call_command
        call_command("makemigrations", "blog")
    else:
        setup(args[0])
        quiet("migrate")
        pages = int(args[1]) if len(args) > 1 else 20
        if pages:
            fill(pages)


if __name__ == "__main__":
    main()
