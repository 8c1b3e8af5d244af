# Safe-Address Gateway image: current Python, non-root user, runs the SMTP proxy.
#   docker build -t safe-address-gateway .
#   docker run -d -p 127.0.0.1:10025:10025 \
#       -v /etc/safe-address-gateway:/etc/safe-address-gateway:ro \
#       -v gateway-data:/var/lib/safe-address-gateway safe-address-gateway
# The config must listen on 0.0.0.0:10025 inside the container (see deploy/README.md).
# Other subcommands: docker run --rm ... safe-address-gateway scan --help
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --system --home-dir /var/lib/safe-address-gateway --shell /usr/sbin/nologin gateway \
    && install -d -o gateway -g gateway -m 0700 /var/lib/safe-address-gateway \
    && install -d -m 0755 /etc/safe-address-gateway
WORKDIR /opt/gateway
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY policies ./policies
COPY deploy/gateway.example.toml /etc/safe-address-gateway/gateway.example.toml
RUN pip install --no-cache-dir -e . && python -m gateway --version

USER gateway
# SMTP; the review console and metrics when `console` and `metrics` are set (serve the
# console over HTTPS with console_tls_cert/console_tls_key, or behind a TLS proxy).
EXPOSE 10025 8025 9125
VOLUME /var/lib/safe-address-gateway
# SIGTERM: stop accepting, finish in-flight mail (up to 60 s); use `docker stop -t 90`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["gateway"]
CMD ["serve", "--config", "/etc/safe-address-gateway/gateway.toml"]
