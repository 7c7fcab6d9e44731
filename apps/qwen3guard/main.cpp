// qwen3guard: one binary, many subcommands. This file only dispatches; every
// subcommand lives in its own cmd_<name>.cpp (see command.h).
#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include "base/error.h"
#include "command.h"

namespace {

void print_usage(FILE* out) {
  auto cmds = qg::app::registry();
  std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::fprintf(out,
               "qwen3guard — inference engine for the Qwen3Guard safety-moderation models\n\n"
               "Usage: qwen3guard <command> [options]\n"
               "       qwen3guard <command> --help   (options of one command)\n\n"
               "Commands:\n");
  for (const auto& c : cmds) std::fprintf(out, "  %-10s %s\n", c.name.c_str(), c.summary.c_str());
  std::fprintf(out,
               "\nA model is a Hugging Face checkpoint folder (config.json, model.safetensors or\n"
               "shards with model.safetensors.index.json, tokenizer.json, tokenizer_config.json),\n"
               "a .gguf file, or a Hugging Face hub id (Qwen/Qwen3Guard-Gen-0.6B[@revision]): fetched\n"
               "once into the Hugging Face cache (see `qwen3guard download --help`).\n"
               "Environment: QG_FORCE_ISA=scalar|avx2 forces a kernel path; QG_THREADS=N sets threads.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    print_usage(stdout);
    return argc < 2 ? qg::app::kExitUsage : qg::app::kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("qwen3guard 0.1.0\n");
    return 0;
  }
  const std::string name = argv[1];
  for (const auto& c : qg::app::registry()) {
    if (c.name != name) continue;
    std::string prog = "qwen3guard " + name;
    argv[1] = prog.data();
    try {
      const int status = c.run(argc - 1, argv + 1);
      // Results that never reached stdout (a full disk, /dev/full, a closed pipe) are
      // an error, not a success: check what is still buffered.
      std::cout.flush();
      if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) {
        std::fprintf(stderr, "qwen3guard %s: error: cannot write standard output: %s\n", name.c_str(),
                     std::strerror(errno));
        return qg::app::kExitError;
      }
      return status;
    } catch (const qg::Error& e) {
      std::fprintf(stderr, "qwen3guard %s: error: %s\n", name.c_str(), e.what());
      return qg::app::kExitError;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "qwen3guard %s: error: %s\n", name.c_str(), e.what());
      return qg::app::kExitError;
    }
  }
  std::fprintf(stderr, "qwen3guard: unknown command '%s'\n\n", name.c_str());
  print_usage(stderr);
  return qg::app::kExitUsage;
}
