# Safe-Address Gateway image: the Python CI tests with, the package installed (not
# editable), a non-root user, a health check.
#   docker build -t safe-address-gateway .
#   docker run -d -p 127.0.0.1:10025:10025 \
#       -v /etc/safe-address-gateway:/etc/safe-address-gateway:ro \
#       -v /srv/gateway/local.d:/opt/safe-address-gateway/policies/local.d:ro \
#       -v gateway-data:/var/lib/safe-address-gateway \
#       -v /run/secrets/gateway.key:/run/secrets/gateway.key:ro \
#       -e GATEWAY_KEY_FILE=/run/secrets/gateway.key \
#       safe-address-gateway
# The mounts (README, "Running in a container"): the config folder with gateway.toml,
# site policy changes, the data folder (the store) and the master key, kept apart.
# Other subcommands: docker run --rm ... safe-address-gateway scan --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Inside the container the proxy listens on every interface (the port is published
# to the host's loopback above); health and metrics stay on the container's loopback,
# for the HEALTHCHECK only.  Environment variables take precedence over gateway.toml.
ENV GATEWAY_LISTEN=0.0.0.0:10025 \
    GATEWAY_METRICS=127.0.0.1:9125 \
    GATEWAY_DATA_DIR=/var/lib/safe-address-gateway \
    GATEWAY_POLICIES=/opt/safe-address-gateway/policies

# Tesseract's English data for OCR (the engine comes with the tesserocr wheel).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10025 --user-group --home-dir /var/lib/safe-address-gateway \
        --shell /usr/sbin/nologin gateway \
    && install -d -o gateway -g gateway -m 0700 /var/lib/safe-address-gateway \
    && install -d -m 0755 /etc/safe-address-gateway /opt/safe-address-gateway/policies/local.d
WORKDIR /opt/gateway
COPY pyproject.toml README.md LICENSE ./
COPY gateway ./gateway
COPY policies ./policies
# gateway/policies links to policies/: the wheel carries the shipped rules
RUN pip install --no-cache-dir . \
    && cp -r policies/default /opt/safe-address-gateway/policies/default \
    && rm -rf /opt/gateway \
    && gateway --version
COPY deploy/gateway.example.toml /etc/safe-address-gateway/gateway.example.toml
WORKDIR /var/lib/safe-address-gateway

USER 10025:10025
# SMTP only: the review console and metrics are off unless configured (serve the
# console over HTTPS with console_tls_cert/console_tls_key, or behind a TLS proxy,
# and publish its port then).
EXPOSE 10025
VOLUME /var/lib/safe-address-gateway
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9125/healthz', timeout=4)"]
# SIGTERM: stop accepting, finish in-flight mail (up to 60 s); use `docker stop -t 90`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["gateway"]
CMD ["serve", "--config", "/etc/safe-address-gateway/gateway.toml"]
