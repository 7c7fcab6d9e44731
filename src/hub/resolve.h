// Models by name: turn what a user passed to --model into a local path. Order: a local
// file or folder as given -> the Hugging Face cache -> a download from the hub (or its
// mirror at HF_ENDPOINT), placed in the cache in huggingface_hub's layout.
//
// Which files a model needs is not known here: the caller passes a Selector that picks
// them from a revision's file names. The one generic step this layer takes on its own
// is "follow the index": a selected file marked as an index is a JSON object whose
// "weight_map" values name more files of the same repo (the sharded-checkpoint index
// format of transformers, safetensors and PyTorch alike); they are fetched after it.
//
// On the wire: one GET of {endpoint}/api/models/{repo}/revision/{rev}?blobs=true gives
// the commit and, per file, its size and etag (lfs.sha256 or the git blob id); then one
// GET per missing file of {endpoint}/{repo}/resolve/{commit}/{path}, following the
// hub's redirect to its CDN, resumed with Range after a cut, verified (size, then
// sha256 or git blob sha1) before it is renamed into blobs/. Nothing is requested when
// the cache already holds a complete snapshot (unless ResolveOptions::check_hub).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "hub/cache.h"
#include "hub/hub_id.h"

namespace qg::hub {

struct FileSelection {
  std::vector<std::string> files;    // repo-relative paths to have locally
  std::vector<std::string> indexes;  // among files: indexes to follow (see above)
  std::string entry;                 // what to return, relative to the snapshot; "" = the folder
};
// Picks from the names of one revision (the hub's listing, or a cached snapshot's
// files); `spec.file` is the user's ":file" part, if any. Throws qg::Error when
// something needed is absent; the message is shown to the user, prefixed with the repo.
using Selector = std::function<FileSelection(const std::vector<std::string>& names, const ModelSpec& spec)>;

struct Progress {
  int64_t bytes_done = 0, bytes_total = 0;  // of the files being downloaded
  int files_done = 0, files_total = 0;
  double seconds = 0;  // since the downloads started
};

struct ResolveOptions {
  HubEnv env;
  Selector select;
  int jobs = 4;            // files downloaded at once
  int max_retries = 5;     // per file, for cut connections, timeouts, 429 and 5xx
  bool check_hub = false;  // ask the hub even when the cache holds the revision (download)
  bool dry_run = false;    // ask the hub, log what would be fetched, fetch nothing
  // Plain log lines ("downloading config.json (727 B)", retries, "cached: ..."). Called
  // from one thread at a time.
  std::function<void(const std::string&)> log;
  // Called every ~100 ms while downloading and once at the end, from one thread.
  std::function<void(const Progress&)> progress;
};

struct Resolved {
  std::filesystem::path path;  // the folder (or the entry file) to load
  bool local = false;          // `text` was a local path, used as is
  bool from_cache = false;     // no request was made
  std::string repo, revision, commit;
  int files_downloaded = 0;
  int64_t bytes_downloaded = 0;
};

// "1.2 GB" (decimal units, as the hub shows sizes).
std::string human_bytes(int64_t n);

// The whole rule: `text` names an existing file or folder -> that; else a hub id
// (hub_id.h) -> resolve_hub(). Throws qg::Error saying what to do otherwise.
Resolved resolve_model(std::string_view text, const ResolveOptions& opt);

// Cache, then (unless env.offline) the hub.
Resolved resolve_hub(const ModelSpec& spec, const ResolveOptions& opt);

// The shard names an index file lists: the distinct "weight_map" values, resolved
// against the index's folder in the repo. Throws qg::Error naming the file and JSON path.
std::vector<std::string> index_targets(const std::filesystem::path& index_file, const std::string& index_repo_path);

}  // namespace qg::hub
