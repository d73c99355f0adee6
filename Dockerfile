# mapay as a container: Debian's Python and headless Chromium, the package in a venv, tini as PID 1.
#   docker build -t mapay .
#   docker run -d -p 127.0.0.1:8000:8000 -v mapay-data:/data -e MAPAY_PUBLIC_URL=https://pay.example.com mapay
#
# Everything is pinned: the base image by digest (BASE_IMAGE; see docs/operations.md "Pins" for how it and the
# Debian versions below are refreshed), Debian packages by version, Python packages by version and hash
# (requirements/*.lock, made by scripts/lock, installed with --require-hashes).
# BASE_IMAGE lets machines without registry access build from a local copy of the same Debian release.
ARG BASE_IMAGE=debian:bookworm-slim

# ---- build: Debian's Python with venv support, apt sources the same whatever base image ----------------
FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY docker/debian.sources /etc/apt/sources.list.d/debian.sources
RUN rm -f /etc/apt/sources.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3=3.11.2-1+b1 python3-venv=3.11.2-1+b1 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

# ---- deps: every third-party package, from the lock alone (a code change does not touch this stage) -----
FROM build AS deps
COPY requirements/runtime.lock /tmp/runtime.lock
RUN python3 -m venv /opt/mapay \
 && /opt/mapay/bin/pip install --no-compile --require-hashes -r /tmp/runtime.lock

# ---- app: the package itself, installed into a prefix of its own so it ships as a small layer ----------
FROM deps AS app
COPY requirements/build.lock /tmp/build.lock
RUN /opt/mapay/bin/pip install --no-compile --require-hashes -r /tmp/build.lock
COPY pyproject.toml README.md /src/
COPY agent /src/agent
# fixtures/ (the simulated back offices, 160 KB) stay in the image: `mapay demo` (agent/demo/) serves them.
COPY fixtures /src/fixtures
RUN /opt/mapay/bin/pip install --no-deps --no-build-isolation --no-compile --prefix /opt/app /src \
 && python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/app/lib

# ---- venv: deps without pip/setuptools, compiled to bytecode once (PYTHONDONTWRITEBYTECODE at run time) --
FROM deps AS venv
# ddddocr ships three models; agent/captcha/solver.py loads only common_old.onnx (DdddOcr() without beta)
# and slide_match needs none (det=False, ocr=False): the other two are 74 MB nobody reads.
RUN /opt/mapay/bin/pip uninstall -y -q pip setuptools \
 && rm /opt/mapay/lib/python3.11/site-packages/ddddocr/common.onnx \
       /opt/mapay/lib/python3.11/site-packages/ddddocr/common_det.onnx \
 && python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/mapay/lib

# ---- runtime ------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# python3 runs the venv; libatomic1 is needed by Playwright's bundled node driver; chromium-headless-shell
# (Chromium's headless-only build: no GTK) reads the providers' back offices; fonts-wqy-microhei makes
# screenshots of Chinese pages readable (5 MB instead of fonts-noto-cjk's 91 MB); tini reaps Chromium's
# child processes. chromium-common depends on x11-utils and xdg-utils, which only the full browser's
# desktop wrapper uses; they pull in Mesa and LLVM (~165 MB), so empty stand-ins satisfy them
# (docker/stub-deb). The browser is the binary in /usr/lib/chromium: the /usr/bin script runs it without
# exec, so a signal to the launched process would stop the script and leave the browser running.
COPY docker/debian.sources /etc/apt/sources.list.d/debian.sources
COPY docker/stub-deb /usr/local/sbin/stub-deb
COPY docker/dpkg-excludes /etc/dpkg/dpkg.cfg.d/mapay-excludes
RUN rm -f /etc/apt/sources.list \
 && stub-deb x11-utils xdg-utils \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      python3=3.11.2-1+b1 \
      libatomic1=12.2.0-14+deb12u1 \
      chromium-headless-shell=156.0.8078.108-1~deb12u1 \
      chromium-common=156.0.8078.108-1~deb12u1 \
      fonts-wqy-microhei=0.2.0-beta-3.1 \
      tini=0.19.0-1+b3 \
      ca-certificates=20250419~deb12u2 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/local/sbin/stub-deb
RUN groupadd --gid 10001 mapay \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/mapay --shell /usr/sbin/nologin mapay \
 && mkdir /data && chown 10001:10001 /data
# Dependencies (hundreds of MB, changes only with requirements/runtime.lock), then the code (a few MB).
COPY --from=venv /opt/mapay /opt/mapay
COPY profiles /opt/mapay/profiles
COPY --from=app /opt/app/lib/python3.11/site-packages/ /opt/mapay/lib/python3.11/site-packages/
COPY --from=app /opt/app/bin/mapay /opt/mapay/bin/mapay
ENV PATH=/opt/mapay/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MAPAY_HOST=0.0.0.0 \
    MAPAY_PORT=8000 \
    MAPAY_DATA_DIR=/data \
    MAPAY_SHIPPED_PROFILES_DIR=/opt/mapay/profiles \
    MAPAY_CHROMIUM_PATH=/usr/lib/chromium/chromium-headless-shell \
    MAPAY_BROWSER_REMOTE_EXECUTABLE_PATH=/usr/lib/chromium/chromium-headless-shell
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /home/mapay
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 CMD ["python3", "-m", "agent.ops.healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["mapay", "serve"]
# Last, so a new revision changes only the image's metadata.
# The project names no public repository or licence yet: pass them (scripts/container-smoke passes the git
# revision and the version from pyproject.toml).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
ARG LICENSES=NOASSERTION
LABEL org.opencontainers.image.title="mapay" \
      org.opencontainers.image.description="码支付: self-hosted payment gateway for aggregated QR codes, confirmed by a headless browser agent" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="${LICENSES}"
