# Silvermail as one binary in a small image.
# Build:  docker build -t silvermail .
# Run:    see compose.yaml (ports 25, 587, 465, 143, 993, 443; data in the volume /var/lib/silvermail).

# --- build: Deno 2.9.6 compiles main.ts and its npm dependencies into one executable (needs network for denort).
FROM denoland/deno:debian-2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
COPY . .
RUN deno install --frozen && deno task compile

# --- runtime: the binary alone.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini libcap2-bin \
  && rm -rf /var/lib/apt/lists/* \
  && useradd --system --home-dir /var/lib/silvermail --create-home silvermail
COPY --from=build /src/silvermail /usr/local/bin/silvermail
# Ports below 1024 without root: the binary alone gets the capability.
RUN setcap cap_net_bind_service=+ep /usr/local/bin/silvermail
# Production listeners on every interface with the standard ports; override any key with SILVERMAIL_* variables
# or mount a config file and set SILVERMAIL_CONFIG.
ENV SILVERMAIL_DATA_DIR=/var/lib/silvermail \
    SILVERMAIL_SMTP_MX_ADDRESS=0.0.0.0 SILVERMAIL_SMTP_MX_PORT=25 \
    SILVERMAIL_SMTP_SUBMISSION_ADDRESS=0.0.0.0 SILVERMAIL_SMTP_SUBMISSION_PORT=587 \
    SILVERMAIL_SMTP_SUBMISSIONS_ADDRESS=0.0.0.0 SILVERMAIL_SMTP_SUBMISSIONS_PORT=465 \
    SILVERMAIL_IMAP_IMAP_ADDRESS=0.0.0.0 SILVERMAIL_IMAP_IMAP_PORT=143 \
    SILVERMAIL_IMAP_IMAPS_ADDRESS=0.0.0.0 SILVERMAIL_IMAP_IMAPS_PORT=993 \
    SILVERMAIL_ADMIN_HTTP_ADDRESS=0.0.0.0 SILVERMAIL_ADMIN_HTTP_PORT=443
VOLUME /var/lib/silvermail
EXPOSE 25 587 465 143 993 443
USER silvermail
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/silvermail"]
CMD ["serve"]
