//! Runs the queue simulator from the command line without the `faccia` binary:
//! `cargo run -p faccia-sim --example queue -- --server http://127.0.0.1:50051 --token demo-queue-token --tickets 50 --speed 600`

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: faccia_sim::QueueSimArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let summary = faccia_sim::run(cli.args).await?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
