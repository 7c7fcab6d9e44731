// --model resolution for the CLI (see model_arg.h): the checkpoint file list and the
// terminal side of downloads.
#include "model_arg.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>

#include "base/error.h"

namespace qg::app {
namespace {

std::string clock_text(double s) {
  const auto t = static_cast<int64_t>(std::lround(std::max(0.0, s)));
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(t / 3600),
                  static_cast<long long>(t / 60 % 60), static_cast<long long>(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(t / 60), static_cast<long long>(t % 60));
  return buf;
}

// Draws "[=====>     ] 312.4 MB / 1.2 GB  23.1 MB/s  ETA 0:38  2/9 files" on one
// terminal line; log lines are printed above it. Without a terminal: the log lines,
// plus one progress line every 10 s for long downloads.
class DownloadDisplay {
 public:
  DownloadDisplay() : tty_(::isatty(STDERR_FILENO) == 1) {}

  void log(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(stderr, "%shub: %s\n", bar_shown_ ? "\r\033[K" : "", line.c_str());
    bar_shown_ = false;
    std::fflush(stderr);
  }

  void progress(const hub::Progress& p) {
    std::lock_guard<std::mutex> lock(mu_);
    if (p.bytes_total <= 0) return;
    const double rate = p.seconds > 0.2 ? p.bytes_done / p.seconds : 0;
    const double frac = std::min(1.0, static_cast<double>(p.bytes_done) / p.bytes_total);
    const std::string eta = rate > 0 ? clock_text((p.bytes_total - p.bytes_done) / rate) : "?";
    const bool done = p.files_done == p.files_total;
    if (tty_) {
      const int width = 28, fill = static_cast<int>(frac * width);
      std::string bar(fill, '=');
      if (fill < width) bar += '>', bar += std::string(width - fill - 1, ' ');
      std::fprintf(stderr, "\r\033[K[%s] %s / %s  %s/s  ETA %s  %d/%d files", bar.c_str(),
                   hub::human_bytes(p.bytes_done).c_str(), hub::human_bytes(p.bytes_total).c_str(), hub::human_bytes(static_cast<int64_t>(rate)).c_str(),
                   eta.c_str(), p.files_done, p.files_total);
      bar_shown_ = true;
      if (done) std::fprintf(stderr, "\n"), bar_shown_ = false;
    } else if (p.seconds - last_plain_ >= 10 || (done && last_plain_ > 0)) {
      last_plain_ = p.seconds;
      std::fprintf(stderr, "hub: %s / %s (%.0f%%), %s/s, ETA %s, %d/%d files\n", hub::human_bytes(p.bytes_done).c_str(),
                   hub::human_bytes(p.bytes_total).c_str(), frac * 100, hub::human_bytes(static_cast<int64_t>(rate)).c_str(), eta.c_str(),
                   p.files_done, p.files_total);
    }
    std::fflush(stderr);
  }

 private:
  std::mutex mu_;
  bool tty_;
  bool bar_shown_ = false;
  double last_plain_ = 0;
};

}  // namespace

hub::FileSelection select_checkpoint(const std::vector<std::string>& names, const hub::ModelSpec& spec) {
  const std::set<std::string> have(names.begin(), names.end());
  std::vector<std::string> ggufs;
  for (const auto& n : names)
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".gguf") == 0) ggufs.push_back(n);
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s.empty() ? std::string("none") : s;
  };
  hub::FileSelection sel;
  if (!spec.file.empty()) {  // owner/name:file.gguf — exactly that file
    if (!have.count(spec.file)) fail("no file ", spec.file, " in this revision (.gguf files: ", list(ggufs), ")");
    sel.files = {spec.file};
    sel.entry = spec.file;
    return sel;
  }
  if (have.count("model.safetensors.index.json")) {
    sel.files.push_back("model.safetensors.index.json");
    sel.indexes.push_back("model.safetensors.index.json");
  } else if (have.count("model.safetensors")) {
    sel.files.push_back("model.safetensors");
  } else if (ggufs.size() == 1) {
    sel.files = ggufs;
    sel.entry = ggufs[0];
    return sel;  // a GGUF file carries its own config and tokenizer
  } else if (ggufs.size() > 1) {
    fail("several .gguf files (", list(ggufs), "): name one, as in ", spec.repo, ":", ggufs[0]);
  } else {
    fail("no model.safetensors, model.safetensors.index.json or .gguf file: not a checkpoint this engine loads");
  }
  for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json"}) {
    if (!have.count(f)) fail("no ", f, ": not a Hugging Face transformers checkpoint of a Qwen3Guard model");
    sel.files.push_back(f);
  }
  for (const char* f : {"generation_config.json", "chat_template.jinja"})
    if (have.count(f)) sel.files.push_back(f);
  return sel;
}

hub::FileSelection select_tokenizer(const std::vector<std::string>& names, const hub::ModelSpec& spec) {
  const std::set<std::string> have(names.begin(), names.end());
  if (!spec.file.empty()) fail("a :file names a GGUF file, which carries its own tokenizer: use the whole model");
  hub::FileSelection sel;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    if (!have.count(f)) fail("no ", f, ": not a Hugging Face transformers checkpoint of a Qwen3Guard model");
    sel.files.push_back(f);
  }
  for (const char* f : {"config.json", "chat_template.jinja"})
    if (have.count(f)) sel.files.push_back(f);
  return sel;
}

hub::ResolveOptions model_resolve_options(bool verbose) {
  hub::ResolveOptions opt;
  opt.env = hub::HubEnv::from_environment();
  opt.select = select_checkpoint;
  auto display = std::make_shared<DownloadDisplay>();
  opt.log = [display, verbose](const std::string& line) {
    // Cache hits are silent for the model-using commands: their output is the result.
    if (verbose || line.rfind("cached: ", 0) != 0) display->log(line);
  };
  opt.progress = [display](const hub::Progress& p) { display->progress(p); };
  return opt;
}

std::string resolve_model_arg(const std::string& text, ModelParts parts) {
  hub::ResolveOptions opt = model_resolve_options(false);
  if (parts == ModelParts::kTokenizerOnly) opt.select = select_tokenizer;
  return hub::resolve_model(text, opt).path.string();
}

}  // namespace qg::app
