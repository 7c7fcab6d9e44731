// The Hugging Face cache on disk, in huggingface_hub's layout, so that files Python
// downloaded are found here and files downloaded here are found by Python:
//
//   <cache>/models--<owner>--<name>/
//       blobs/<etag>                 the bytes; etag = sha256 (LFS files) or git blob sha1
//       blobs/<etag>.incomplete      a download in progress (resumed with a Range request)
//       refs/<revision>              the commit a branch or tag pointed to, no newline
//       snapshots/<commit>/<path>    relative symlink to ../../blobs/<etag>
//   <cache>/.locks/models--<owner>--<name>/<etag>.lock   one writer per blob across processes
//
// Also where the cache is and who we are (HubEnv: HF_HUB_CACHE, HF_HOME, HF_TOKEN,
// HF_ENDPOINT, HF_HUB_OFFLINE). Knows directories and symlinks; must not know HTTP or
// model formats.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace qg::hub {

namespace fs = std::filesystem;

struct HubEnv {
  std::string endpoint = "https://huggingface.co";  // no trailing '/'
  fs::path cache_dir;                                // the "hub" folder itself
  std::string token;                                 // "" when none
  std::string token_source;                          // "HF_TOKEN", a token file path, or ""
  bool offline = false;                              // HF_HUB_OFFLINE: never touch the network

  // Read the way huggingface_hub reads them:
  //   cache: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
  //          $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub;
  //   token: HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the file HF_TOKEN_PATH, else
  //          $HF_HOME/token (HF_HOME defaulting as above);
  //   offline: HF_HUB_OFFLINE in {1, ON, YES, TRUE} (any case).
  // `getenv` is injectable for tests.
  static HubEnv from_environment(const std::function<const char*(const char*)>& getenv = nullptr);
};

bool env_truthy(const char* value);

class RepoCache {
 public:
  RepoCache(fs::path cache_dir, std::string repo);

  const std::string& repo() const { return repo_; }
  const fs::path& root() const { return root_; }  // <cache>/models--owner--name
  fs::path blob(const std::string& etag) const { return root_ / "blobs" / etag; }
  fs::path incomplete(const std::string& etag) const { return root_ / "blobs" / (etag + ".incomplete"); }
  fs::path snapshot(const std::string& commit) const { return root_ / "snapshots" / commit; }
  fs::path lock_file(const std::string& etag) const;

  // The commit `revision` resolves to in the cache: itself for a commit hash whose
  // snapshot folder exists, else the content of refs/<revision>. nullopt when unknown.
  std::optional<std::string> commit_of(const std::string& revision) const;
  // refs/<revision> := commit, atomically (write a temp file, rename). No-op for a
  // revision that is itself a commit hash, as huggingface_hub does.
  void write_ref(const std::string& revision, const std::string& commit) const;

  // Repo-relative paths ("a/b.gguf") under snapshots/<commit> that lead to an existing
  // regular file (dangling symlinks of a half-deleted cache are not files). Sorted.
  std::vector<std::string> snapshot_files(const std::string& commit) const;

  // snapshots/<commit>/<path> -> ../../blobs/<etag> (one more "../" per folder in path),
  // replacing what was there. Creates the folders.
  void link(const std::string& commit, const std::string& path, const std::string& etag) const;

 private:
  fs::path cache_dir_;
  std::string repo_;
  fs::path root_;
};

// What `qwen3guard models` prints.
struct CachedRevision {
  std::string commit;
  std::vector<std::string> refs;  // branches/tags that point at it ("main")
  int files = 0;
  int64_t size = 0;  // sum of the sizes of the files of this snapshot
  fs::path path;
};
struct CachedRepo {
  std::string repo;
  int64_t size_on_disk = 0;  // all blobs, counted once (snapshots share them)
  int incomplete = 0;        // *.incomplete blobs (interrupted downloads)
  std::vector<CachedRevision> revisions;
  fs::path path;
};
// Every model repo in the cache, sorted by name. An absent cache is an empty list.
std::vector<CachedRepo> scan_cache(const fs::path& cache_dir);

}  // namespace qg::hub
