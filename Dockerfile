# mapay as a container: Debian's Python and Chromium, the package in a venv, tini as PID 1.
#   docker build -t mapay .
#   docker run -d -p 127.0.0.1:8000:8000 -v mapay-data:/data -e MAPAY_PUBLIC_URL=https://pay.example.com mapay
# BASE_IMAGE lets machines without registry access build from a local copy of the same Debian release.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/mapay
# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml /src/
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && /opt/mapay/bin/pip install -r /tmp/requirements.txt
COPY README.md /src/
COPY agent /src/agent
COPY fixtures /src/fixtures
RUN /opt/mapay/bin/pip install --no-deps /src \
 && /opt/mapay/bin/pip uninstall -y pip \
 && find /opt/mapay -name __pycache__ -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# python3 runs the venv; libatomic1 is needed by Playwright's bundled node driver; chromium reads the
# providers' back offices; fonts-noto-cjk makes screenshots of Chinese pages readable; tini reaps
# Chromium's child processes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libatomic1 chromium fonts-noto-cjk tini ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/mapay --shell /usr/sbin/nologin mapay \
 && mkdir /data && chown mapay:mapay /data
COPY --from=build /opt/mapay /opt/mapay
COPY profiles /opt/mapay/profiles
ENV PATH=/opt/mapay/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MAPAY_HOST=0.0.0.0 \
    MAPAY_PORT=8000 \
    MAPAY_DATA_DIR=/data \
    MAPAY_SHIPPED_PROFILES_DIR=/opt/mapay/profiles \
    MAPAY_CHROMIUM_PATH=/usr/bin/chromium
USER mapay
WORKDIR /home/mapay
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 CMD ["python3", "-m", "agent.ops.healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["mapay", "serve"]
