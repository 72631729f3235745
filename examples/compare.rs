//! `bfl compare` until the CLI wires it: `cargo run --release --example compare -- --help`.

use clap::Parser;

/// Polling strategies side by side on one seeded scenario, in virtual time.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    compare: bfl::compare::CompareArgs,
}

fn main() {
    let cli = Cli::parse();
    match bfl::compare::run(&cli.compare) {
        Ok(report) if cli.compare.json => println!("{}", report.to_json()),
        Ok(report) => print!("{}", report.table()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
