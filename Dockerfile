# A minimal image for the web and worker processes (docs/deploy.md). NOT built or run on the
# machine it was written on (no Docker there): check it before relying on it.
#   web:    the default command (gunicorn on port 8000, WEB_CONCURRENCY workers)
#   worker: python manage.py qcluster
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 WEB_CONCURRENCY=4
WORKDIR /app

# Dependencies first (pyproject.toml installs no package of its own: the code runs from
# /app), so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN pip install .

COPY . .
# The settings refuse to load without these two keys; collecting static files reads neither
# the keys nor the database, so throwaway values serve here and never reach a running process.
RUN SECRET_KEY=collectstatic-only CREDENTIALS_KEY=collectstatic-only \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --home-dir /app app && mkdir -p /app/media \
    && chown app /app/media
USER app

EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--timeout", "60", \
     "--graceful-timeout", "30", "--access-logfile", "-"]
