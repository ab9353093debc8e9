//! The console on its own, as `faccia console` runs it:
//! `cargo run -p faccia-console --example console -- --server http://127.0.0.1:50051 --token demo-viewer-token`.

use clap::Parser;
use faccia_console::ConsoleArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    console: ConsoleArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    faccia_console::run(Cli::parse().console).await
}
