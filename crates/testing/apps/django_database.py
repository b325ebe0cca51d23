"""Django's DATABASES entry for a database URL, shared by the applications
whose own migrations make the test databases (django/shop.py,
wagtail/site.py).

    postgres://user@host:port/db, mysql://user:password@host:port/db
    (or mariadb://...), sqlite:///path/to/file.db
"""

from urllib.parse import urlparse


def database(url):
    u = urlparse(url)
    if u.scheme in ("postgres", "postgresql"):
        return {"ENGINE": "django.db.backends.postgresql", "NAME": u.path.lstrip("/"),
                "USER": u.username or "postgres", "HOST": u.hostname or "127.0.0.1",
                "PORT": str(u.port or 5432)}
    if u.scheme in ("mysql", "mariadb"):
        import pymysql
        # Django asks for mysqlclient 2.2.1 or newer; PyMySQL speaks for it
        pymysql.version_info = (2, 2, 8, "final", 0)
        pymysql.install_as_MySQLdb()
        return {"ENGINE": "django.db.backends.mysql", "NAME": u.path.lstrip("/"),
                "USER": u.username or "root", "PASSWORD": u.password or "",
                "HOST": u.hostname or "127.0.0.1", "PORT": str(u.port or 3306),
                "OPTIONS": {"charset": "utf8mb4"}}
    if u.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": u.path}
    raise SystemExit(f"unsupported url {url}")
