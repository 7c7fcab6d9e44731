// `qwen3guard models`: what the Hugging Face cache holds (ours and huggingface_hub's:
// it is one cache), one line per cached revision, with sizes.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "base/error.h"
#include "command.h"
#include "hub/cache.h"
#include "hub/resolve.h"

namespace qg::app {
namespace {

constexpr const char* kHelp = R"help(
Lists every model repo in the cache, one line per cached revision: the commit (first
12 digits), the branches or tags that point at it, its files and their size. A repo's
"on disk" size counts each blob once (revisions share unchanged files). Any of these
names works as --model: owner/name (the main branch), owner/name@<ref or commit>.

Examples:
  qwen3guard models
  qwen3guard models --paths                 also print each snapshot folder
  HF_HUB_CACHE=/data/hf qwen3guard models
)help";

int run(int argc, char** argv) {
  CLI::App app{"List the models in the Hugging Face cache, with sizes.", "qwen3guard models"};
  app.footer(kHelp);
  std::string cache_dir;
  bool paths = false;
  app.add_option("--cache-dir", cache_dir, "cache folder (default: HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub)");
  app.add_flag("--paths", paths, "print the snapshot folder under each revision");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  const hub::fs::path dir = cache_dir.empty() ? hub::HubEnv::from_environment().cache_dir : hub::fs::path(cache_dir);
  const auto repos = hub::scan_cache(dir);
  std::printf("cache: %s\n", dir.c_str());
  if (repos.empty()) {
    std::printf("no models cached (fetch one: qwen3guard download Qwen/Qwen3Guard-Gen-0.6B)\n");
    return kExitOk;
  }
  std::printf("%-40s %-12s %-14s %6s %10s\n", "REPO", "REVISION", "REFS", "FILES", "SIZE");
  int64_t total = 0;
  for (const auto& r : repos) {
    total += r.size_on_disk;
    if (r.revisions.empty())
      std::printf("%-40s %-12s %-14s %6d %10s\n", r.repo.c_str(), "-", "-", 0, "-");
    for (const auto& v : r.revisions) {
      std::string refs;
      for (const auto& x : v.refs) refs += (refs.empty() ? "" : ",") + x;
      std::printf("%-40s %-12s %-14s %6d %10s\n", r.repo.c_str(), v.commit.substr(0, 12).c_str(),
                  refs.empty() ? "-" : refs.c_str(), v.files, hub::human_bytes(v.size).c_str());
      if (paths) std::printf("    %s\n", v.path.c_str());
    }
    if (r.incomplete > 0)
      std::printf("    (%d interrupted download(s); `qwen3guard download %s` resumes them)\n", r.incomplete,
                  r.repo.c_str());
  }
  std::printf("%zu repo(s), %s on disk\n", repos.size(), hub::human_bytes(total).c_str());
  return kExitOk;
}

const Registrar kReg{{"models", "list the models in the Hugging Face cache, with sizes", run}};

}  // namespace
}  // namespace qg::app
