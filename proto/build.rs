//! Compiles `faccia/v1/*.proto` with protox (pure Rust: no system protoc needed) and writes the
//! file descriptor set used by gRPC server reflection.
use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "faccia/v1/queue.proto",
        "faccia/v1/monitor.proto",
        "faccia/v1/reports.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["."])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("faccia_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
