// Internal to hub/: downloading a set of files of one commit into the cache, in
// parallel, resumable and verified; and the hub's HTTP errors turned into messages
// that say what to do. resolve.cpp decides what to fetch; this file only fetches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hub/cache.h"
#include "hub/http.h"
#include "hub/resolve.h"

namespace qg::hub {

struct RemoteFile {
  std::string path;    // repo-relative
  int64_t size = -1;   // bytes, from the listing
  std::string etag;    // blob name: lfs sha256 (64 hex) or git blob sha1 (40 hex)
  bool lfs = false;    // true: etag is the sha256 of the bytes; false: the git blob id
};

struct FetchJob {
  const RepoCache* cache = nullptr;
  std::string endpoint, repo, commit;
  HttpOptions http;
  const ResolveOptions* opt = nullptr;
};

struct FetchStats {
  int files = 0;          // files actually transferred
  int64_t bytes = 0;      // bytes actually transferred
};

// Every file ends as blobs/<etag> (verified) with snapshots/<commit>/<path> linking to
// it. Blobs already present are linked without a request. Up to opt->jobs at once;
// the first failure stops the others and is rethrown.
FetchStats fetch_files(const FetchJob& job, const std::vector<RemoteFile>& files);

// `what` is "owner/name@rev" or "owner/name: path". Uses the hub's X-Error-Code header
// (GatedRepo, RepoNotFound, RevisionNotFound, EntryNotFound) when present.
[[noreturn]] void fail_http(const HttpResult& r, const std::string& what, const std::string& endpoint,
                            const std::string& repo, bool has_token);

}  // namespace qg::hub
