# dxops-model: the training, processing, evaluation, serving and monitoring
# image. Multi-stage: a static binary built on rust:1-bookworm, copied into a
# minimal distroless base that runs as a non-root user.
#
# The binary is linked statically against glibc (`+crt-static` on
# x86_64-unknown-linux-gnu), as benches/serve/build-static.sh does outside
# Docker; it needs no shared libraries at run time.

FROM rust:1-bookworm AS builder
WORKDIR /src
# The whole workspace is copied because cargo reads every member's manifest
# (and the targets they declare); only the dxops-model package is built, so
# the AWS SDK, Tera and the schema validator are never compiled here.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY templates ./templates
COPY tests ./tests
COPY benches ./benches
ENV RUSTFLAGS="-C target-feature=+crt-static"
RUN cargo build --release --locked -p dxops-model --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/dxops-model /dxops-model \
 && strip /dxops-model

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /dxops-model /usr/local/bin/dxops-model
ENV PATH=/usr/local/bin \
    SAGEMAKER_BIND_TO_PORT=8080
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["dxops-model"]
