// The huggingface_hub cache layout and the hub environment variables (see cache.h).
#include "hub/cache.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "base/error.h"
#include "hub/hub_id.h"

namespace qg::hub {
namespace {

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// A small text file (a ref, a token), or nullopt when absent or unreadable. Refs and
// tokens are tiny: anything over 4 KiB is not one.
std::optional<std::string> read_small(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s(4096, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<size_t>(in.gcount()));
  return trim(s);
}

std::string generic(const fs::path& p) { return p.generic_string(); }

}  // namespace

bool env_truthy(const char* value) {
  if (!value) return false;
  std::string v = value;
  for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

HubEnv HubEnv::from_environment(const std::function<const char*(const char*)>& getenv_fn) {
  auto get = [&](const char* name) -> std::string {
    const char* v = getenv_fn ? getenv_fn(name) : std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  HubEnv env;
  if (std::string e = get("HF_ENDPOINT"); !e.empty()) {
    while (!e.empty() && e.back() == '/') e.pop_back();
    env.endpoint = e;
  }
  fs::path hf_home;
  if (std::string h = get("HF_HOME"); !h.empty()) {
    hf_home = h;
  } else if (std::string x = get("XDG_CACHE_HOME"); !x.empty()) {
    hf_home = fs::path(x) / "huggingface";
  } else {
    const std::string home = get("HOME");
    hf_home = fs::path(home.empty() ? "/tmp" : home) / ".cache" / "huggingface";
  }
  if (std::string c = get("HF_HUB_CACHE"); !c.empty())
    env.cache_dir = c;
  else if (std::string c2 = get("HUGGINGFACE_HUB_CACHE"); !c2.empty())
    env.cache_dir = c2;
  else
    env.cache_dir = hf_home / "hub";

  if (std::string t = trim(get("HF_TOKEN")); !t.empty()) {
    env.token = t, env.token_source = "HF_TOKEN";
  } else if (std::string t2 = trim(get("HUGGING_FACE_HUB_TOKEN")); !t2.empty()) {
    env.token = t2, env.token_source = "HUGGING_FACE_HUB_TOKEN";
  } else {
    const std::string tp = get("HF_TOKEN_PATH");
    const fs::path token_file = tp.empty() ? hf_home / "token" : fs::path(tp);
    if (auto t3 = read_small(token_file); t3 && !t3->empty())
      env.token = *t3, env.token_source = token_file.string();
  }
  const std::string off = get("HF_HUB_OFFLINE");
  env.offline = env_truthy(off.empty() ? nullptr : off.c_str());
  return env;
}

RepoCache::RepoCache(fs::path cache_dir, std::string repo)
    : cache_dir_(std::move(cache_dir)), repo_(std::move(repo)), root_(cache_dir_ / repo_folder_name(repo_)) {}

fs::path RepoCache::lock_file(const std::string& etag) const {
  return cache_dir_ / ".locks" / repo_folder_name(repo_) / (etag + ".lock");
}

std::optional<std::string> RepoCache::commit_of(const std::string& revision) const {
  std::error_code ec;
  if (is_commit_hash(revision)) {
    if (fs::is_directory(snapshot(revision), ec)) return revision;
  }
  // Branch names may contain '/' ("refs/pr/1" lives at refs/refs/pr/1), but never "..":
  // parse_model_spec refused those, so the ref stays inside refs/.
  auto commit = read_small(root_ / "refs" / revision);
  if (!commit || !is_commit_hash(*commit)) return std::nullopt;
  return commit;
}

void RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (is_commit_hash(revision)) return;
  const fs::path ref = root_ / "refs" / revision;
  fs::create_directories(ref.parent_path());
  const fs::path tmp = ref.parent_path() / (ref.filename().string() + cat(".tmp", ::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << commit;  // no newline: huggingface_hub writes the bare hash
    if (!out) fail(tmp.string(), ": cannot write");
  }
  fs::rename(tmp, ref);
}

std::vector<std::string> RepoCache::snapshot_files(const std::string& commit) const {
  std::vector<std::string> out;
  const fs::path dir = snapshot(commit);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it.depth() > 16) {  // no repo is that deep; a symlink loop could be
      it.disable_recursion_pending();
      continue;
    }
    std::error_code e2;
    if (fs::is_regular_file(it->path(), e2))  // follows the symlink: dangling ones are skipped
      out.push_back(generic(it->path().lexically_relative(dir)));  // not fs::relative: it resolves the link
  }
  std::sort(out.begin(), out.end());
  return out;
}

void RepoCache::link(const std::string& commit, const std::string& path, const std::string& etag) const {
  const fs::path dst = snapshot(commit) / path;
  fs::create_directories(dst.parent_path());
  // Relative, as huggingface_hub makes them, so the cache can be moved as a whole.
  std::string target = "../../";
  for (char c : path)
    if (c == '/') target += "../";
  target += "blobs/" + etag;
  std::error_code ec;
  fs::remove(dst, ec);
  fs::create_symlink(target, dst, ec);
  if (ec) fail(dst.string(), ": cannot create the symlink to ", target, ": ", ec.message());
}

std::vector<CachedRepo> scan_cache(const fs::path& cache_dir) {
  std::vector<CachedRepo> repos;
  std::error_code ec;
  if (!fs::is_directory(cache_dir, ec)) return repos;
  for (const auto& entry : fs::directory_iterator(cache_dir, ec)) {
    const auto name = repo_from_folder_name(entry.path().filename().string());
    if (!name || !entry.is_directory()) continue;
    CachedRepo repo;
    repo.repo = *name;
    repo.path = entry.path();
    RepoCache cache(cache_dir, *name);
    std::error_code e2;
    for (const auto& b : fs::directory_iterator(entry.path() / "blobs", e2)) {
      if (!b.is_regular_file()) continue;
      if (b.path().extension() == ".incomplete") ++repo.incomplete;
      repo.size_on_disk += static_cast<int64_t>(b.file_size());
    }
    std::map<std::string, std::vector<std::string>> refs_of;  // commit -> refs
    const fs::path refs = entry.path() / "refs";
    for (auto it = fs::recursive_directory_iterator(refs, e2); !e2 && it != fs::recursive_directory_iterator();
         it.increment(e2)) {
      if (!it->is_regular_file()) continue;
      if (auto c = read_small(it->path()); c && is_commit_hash(*c))
        refs_of[*c].push_back(generic(it->path().lexically_relative(refs)));
    }
    for (const auto& s : fs::directory_iterator(entry.path() / "snapshots", e2)) {
      if (!s.is_directory()) continue;
      CachedRevision rev;
      rev.commit = s.path().filename().string();
      rev.path = s.path();
      rev.refs = refs_of[rev.commit];
      for (const auto& f : cache.snapshot_files(rev.commit)) {
        ++rev.files;
        std::error_code e3;
        rev.size += static_cast<int64_t>(fs::file_size(s.path() / f, e3));
      }
      repo.revisions.push_back(std::move(rev));
    }
    std::sort(repo.revisions.begin(), repo.revisions.end(),
              [](const auto& a, const auto& b) { return a.refs.size() != b.refs.size() ? a.refs.size() > b.refs.size() : a.commit < b.commit; });
    repos.push_back(std::move(repo));
  }
  std::sort(repos.begin(), repos.end(), [](const auto& a, const auto& b) { return a.repo < b.repo; });
  return repos;
}

}  // namespace qg::hub
