// `qwen3guard download`: fetch a model from the Hugging Face hub into the cache (the
// same cache and layout huggingface_hub uses), asking the hub for the revision even
// when a snapshot is cached, and print the local path on stdout.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "base/error.h"
#include "command.h"
#include "hub/resolve.h"
#include "model_arg.h"

namespace qg::app {
namespace {

constexpr const char* kHelp = R"help(
MODEL is a hub id: owner/name, optionally @revision (branch, tag or commit) and
:file.gguf (one file of a GGUF repo). Only the files the engine needs are fetched:
config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
chat_template.jinja, and model.safetensors or model.safetensors.index.json with its
shards (or the one .gguf). The local path is printed on stdout; progress goes to stderr.

Examples:
  qwen3guard download Qwen/Qwen3Guard-Gen-0.6B
  qwen3guard download Qwen/Qwen3Guard-Gen-8B --revision main --jobs 8
  qwen3guard download Qwen/Qwen3Guard-Gen-8B --dry-run      (the commit and file sizes only)
  qwen3guard classify --model "$(qwen3guard download Qwen/Qwen3Guard-Gen-0.6B)" "hello"
  qwen3guard classify --model Qwen/Qwen3Guard-Gen-0.6B "hello"     (downloads on first use)

Files are verified (size, and sha256 for LFS files / git blob id for small ones)
before they are placed; an interrupted download resumes where it stopped. Files
already cached, by this program or by Python's huggingface_hub, are not fetched again.

Environment (as huggingface_hub):
  HF_TOKEN          token for gated or private repos (else the file $HF_HOME/token)
  HF_HUB_CACHE      the cache folder (default $HF_HOME/hub, ~/.cache/huggingface/hub)
  HF_HOME           base of the cache and token (default ~/.cache/huggingface)
  HF_ENDPOINT       the hub or a mirror (default https://huggingface.co)
  HF_HUB_OFFLINE=1  never touch the network: succeed only from the cache
)help";

int run(int argc, char** argv) {
  CLI::App app{"Download a model from the Hugging Face hub into the local cache.", "qwen3guard download"};
  app.footer(kHelp);
  std::string model, revision, cache_dir;
  int jobs = 4;
  bool quiet = false, dry_run = false;
  app.add_option("model", model, "hub id: owner/name[@revision][:file.gguf]")->required();
  app.add_option("--revision", revision, "branch, tag or commit (default: main, or the @revision of MODEL)");
  app.add_option("--cache-dir", cache_dir, "cache folder (default: HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub)");
  app.add_option("--jobs,-j", jobs, "files downloaded at once (default 4)")->check(CLI::Range(1, 32));
  app.add_flag("--quiet,-q", quiet, "no progress output, only errors and the path");
  app.add_flag("--dry-run", dry_run, "ask the hub which commit and files it would be, fetch nothing "
                                     "(exit status 0: the hub is reachable and the model exists)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  auto spec = hub::parse_model_spec(model);
  if (!spec) {
    std::fprintf(stderr, "qwen3guard download: '%s' is not a hub id (owner/name, e.g. Qwen/Qwen3Guard-Gen-0.6B)\n",
                 model.c_str());
    return kExitUsage;
  }
  if (!revision.empty()) {
    auto with_rev = hub::parse_model_spec(spec->repo + "@" + revision);  // same revision checks
    spec->revision = with_rev->revision;
  }
  hub::ResolveOptions opt = model_resolve_options(/*verbose=*/true);
  if (quiet) opt.log = nullptr, opt.progress = nullptr;
  if (!cache_dir.empty()) opt.env.cache_dir = cache_dir;
  opt.jobs = jobs;
  opt.check_hub = true;
  opt.dry_run = dry_run;
  const hub::Resolved r = hub::resolve_hub(*spec, opt);
  if (dry_run) {
    std::printf("%s\n", r.path.c_str());
    return kExitOk;
  }
  if (!quiet) {
    if (r.files_downloaded == 0)
      std::fprintf(stderr, "hub: %s@%s is up to date in the cache (commit %s)\n", r.repo.c_str(),
                   r.revision.c_str(), r.commit.c_str());
    else
      std::fprintf(stderr, "hub: %s@%s: %d file(s), %s downloaded (commit %s)\n", r.repo.c_str(),
                   r.revision.c_str(), r.files_downloaded, hub::human_bytes(r.bytes_downloaded).c_str(),
                   r.commit.c_str());
  }
  std::printf("%s\n", r.path.c_str());
  return kExitOk;
}

const Registrar kReg{{"download", "fetch a model from the Hugging Face hub into the cache", run}};

}  // namespace
}  // namespace qg::app
