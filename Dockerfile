# Safe-Address Gateway image: current Python, non-root user.
# Until the SMTP server lands (issue 3) the image runs `gateway scan` on mounted files:
#   docker run --rm -v $PWD/mail:/mail -v $PWD/register.yaml:/register.yaml:ro \
#       safe-address-gateway scan --register /register.yaml --json /mail
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --system --create-home --home-dir /var/lib/gateway gateway
WORKDIR /opt/gateway
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY policies ./policies
RUN pip install --no-cache-dir -e . && python -m gateway --version

USER gateway
ENTRYPOINT ["gateway"]
CMD ["--help"]
