// Subcommand registry for the `qwen3guard` binary. Each cmd_<name>.cpp defines one
// subcommand and registers it with a static Registrar, so adding a subcommand never
// edits a shared table. A subcommand parses its own flags (CLI11), calls library
// code, and returns the process exit status; qg::Error escaping it is printed by
// main() as "qwen3guard <name>: error: ..." with exit status 1.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace qg::app {

// Exit statuses shared by every subcommand (documented in README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;    // bad input, missing file, model error
inline constexpr int kExitUsage = 2;    // bad flags
inline constexpr int kExitFlagged = 3;  // classify --fail-on matched

struct Command {
  std::string name;
  std::string summary;  // one line for `qwen3guard --help`
  // argv[0] is "qwen3guard <name>"; returns the exit status.
  std::function<int(int argc, char** argv)> run;
};

std::vector<Command>& registry();

struct Registrar {
  explicit Registrar(Command c) { registry().push_back(std::move(c)); }
};

}  // namespace qg::app
