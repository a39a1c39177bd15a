//! The `layerwatch` binary: parses the command line and turns errors into exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    layerwatch::cli::main()
}
