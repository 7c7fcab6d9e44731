// --model resolution: local path -> cache -> hub (see resolve.h). This file decides
// what to fetch (the listing, the caller's selection, the indexes it names); fetch.cpp
// moves the bytes.
#include "hub/resolve.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "base/file.h"
#include "hub/fetch.h"
#include "hub/http.h"

namespace qg::hub {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxListedFiles = 1'000'000;
constexpr int64_t kMaxFileSize = int64_t{1} << 50;  // 1 PiB: anything larger is a hostile listing

// JSON from a server or a downloaded file: bounded nesting, so a hostile body cannot
// exhaust the stack (the callback sees every value's depth before it is built).
json parse_json(const std::string& text, const std::string& where) {
  constexpr int kMaxDepth = 64;
  try {
    return json::parse(text, [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth) fail(where, ": JSON nested deeper than ", kMaxDepth, " levels");
      return true;
    });
  } catch (const json::exception& e) {
    fail(where, ": not JSON: ", e.what());
  }
}

std::string label(const ModelSpec& spec) { return cat(spec.repo, "@", spec.revision); }

bool is_hex(const std::string& s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

struct Listing {
  std::string commit;
  std::map<std::string, RemoteFile> files;
  std::vector<std::string> names;  // sorted
};

// GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true: the commit the revision
// points at and, per file, its size and etag. One request instead of a HEAD per file.
Listing fetch_listing(const ModelSpec& spec, const ResolveOptions& opt, const HttpOptions& http) {
  const std::string url = cat(opt.env.endpoint, "/api/models/", spec.repo, "/revision/",
                              quote_all(spec.revision), "?blobs=true");
  const HttpResult r = http_get(url, http);
  if (r.unreachable)
    fail(label(spec), ": cannot reach ", opt.env.endpoint, " (", r.error, "). Connect to the network, or set ",
         "HF_ENDPOINT to a mirror you can reach; a model already in the cache (", opt.env.cache_dir.string(),
         ") is used without the network with HF_HUB_OFFLINE=1");
  if (!r.error.empty()) fail(label(spec), ": ", url, ": ", r.error);
  if (r.status != 200) fail_http(r, label(spec), opt.env.endpoint, spec.repo, !http.token.empty());
  const std::string where = cat("repo listing ", url);
  const json j = parse_json(r.body, where);
  if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string() || !is_hex(j["sha"].get<std::string>(), 40))
    fail(where, ": /sha: expected the 40-hex commit id");
  if (!j.contains("siblings") || !j["siblings"].is_array()) fail(where, ": /siblings: expected an array");
  const auto& sib = j["siblings"];
  if (sib.size() > kMaxListedFiles) fail(where, ": /siblings: more than ", kMaxListedFiles, " files");
  Listing out;
  out.commit = j["sha"].get<std::string>();
  for (size_t i = 0; i < sib.size(); ++i) {
    const std::string at = cat(where, ": /siblings/", i);
    const auto& s = sib[i];
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string())
      fail(at, "/rfilename: expected a string");
    RemoteFile f;
    f.path = s["rfilename"].get<std::string>();
    check_repo_path(f.path, at + "/rfilename");
    auto size_of = [&](const json& v, const std::string& p) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > kMaxFileSize)
        fail(at, p, ": expected a size in bytes");
      return v.get<int64_t>();
    };
    if (!s.contains("lfs") && !s.contains("blobId")) {
      // A mirror that ignores ?blobs=true: the etag and size come from a HEAD per
      // selected file instead (head_metadata).
    } else if (s.contains("lfs") && s["lfs"].is_object()) {
      const auto& lfs = s["lfs"];
      if (!lfs.contains("sha256") || !lfs["sha256"].is_string() || !is_hex(lfs["sha256"].get<std::string>(), 64))
        fail(at, "/lfs/sha256: expected 64 hex digits");
      f.etag = lfs["sha256"].get<std::string>();
      f.lfs = true;
      f.size = size_of(lfs.value("size", json()), "/lfs/size");
    } else {
      if (!s.contains("blobId") || !s["blobId"].is_string() || !is_hex(s["blobId"].get<std::string>(), 40))
        fail(at, "/blobId: expected the 40-hex git blob id (does this server support ?blobs=true?)");
      f.etag = s["blobId"].get<std::string>();
      f.size = size_of(s.value("size", json()), "/size");
    }
    out.names.push_back(f.path);
    out.files[f.path] = std::move(f);
  }
  std::sort(out.names.begin(), out.names.end());
  return out;
}

// "https://host:port" of an endpoint that may carry a path ("http://mirror/hf").
std::string origin_of(const std::string& endpoint) {
  const auto scheme = endpoint.find("://");
  const auto slash = scheme == std::string::npos ? std::string::npos : endpoint.find('/', scheme + 3);
  return slash == std::string::npos ? endpoint : endpoint.substr(0, slash);
}

std::string unquote_etag(std::string v) {
  if (v.rfind("W/", 0) == 0) v = v.substr(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return v;
}

// The per-file metadata huggingface_hub reads: HEAD {endpoint}/{repo}/resolve/{commit}/{path},
// relative redirects followed (a renamed repo), the CDN redirect not. LFS files carry
// X-Linked-Etag (their sha256) and X-Linked-Size; small files an ETag (git blob id) and
// Content-Length.
void head_metadata(RemoteFile& f, const ModelSpec& spec, const std::string& commit, const ResolveOptions& opt,
                   const HttpOptions& http) {
  std::string url = cat(opt.env.endpoint, "/", spec.repo, "/resolve/", commit, "/", quote_path(f.path));
  const std::string what = cat(spec.repo, ": ", f.path);
  for (int hops = 0;; ++hops) {
    const HttpResult r = http_head(url, http);
    if (!r.error.empty()) fail(what, ": HEAD ", url, ": ", r.error);
    const std::string location = r.header("location");
    if (r.status >= 300 && r.status < 400 && !location.empty() && location.front() == '/' &&
        r.header("x-linked-etag").empty() && hops < 5) {
      url = origin_of(opt.env.endpoint) + location;
      continue;
    }
    if (r.status >= 400) fail_http(r, what, opt.env.endpoint, spec.repo, !http.token.empty());
    const std::string linked = unquote_etag(r.header("x-linked-etag"));
    f.lfs = !linked.empty();
    f.etag = f.lfs ? linked : unquote_etag(r.header("etag"));
    const std::string size = f.lfs ? r.header("x-linked-size") : r.header("content-length");
    if (!is_hex(f.etag, f.lfs ? 64 : 40))
      fail(what, ": the hub's ", f.lfs ? "X-Linked-Etag" : "ETag", " '", f.etag.substr(0, 80),
           "' is not a ", f.lfs ? "sha256" : "git blob id");
    if (size.empty() || size.size() > 15 || size.find_first_not_of("0123456789") != std::string::npos)
      fail(what, ": the hub sent no usable file size");
    f.size = std::stoll(size);
    return;
  }
}

FileSelection select(const ModelSpec& spec, const ResolveOptions& opt, const std::vector<std::string>& names) {
  QG_CHECK(opt.select, "ResolveOptions::select is not set");
  FileSelection sel;
  try {
    sel = opt.select(names, spec);
  } catch (const Error& e) {
    fail(label(spec), ": ", e.what());
  }
  for (const auto& idx : sel.indexes)
    QG_CHECK(std::find(sel.files.begin(), sel.files.end(), idx) != sel.files.end(), "index ", idx, " not selected");
  return sel;
}

// The cached snapshot of spec.revision, when it holds every selected file and every
// file its indexes name. `why` says what is missing otherwise.
std::optional<Resolved> from_cache(const ModelSpec& spec, const ResolveOptions& opt, std::string* why) {
  RepoCache cache(opt.env.cache_dir, spec.repo);
  const auto commit = cache.commit_of(spec.revision);
  if (!commit) {
    *why = cat("no snapshot of ", label(spec), " in the cache");
    return std::nullopt;
  }
  const auto names = cache.snapshot_files(*commit);
  const std::set<std::string> have(names.begin(), names.end());
  FileSelection sel;
  try {
    sel = select(spec, opt, names);
    std::vector<std::string> need = sel.files;
    for (const auto& idx : sel.indexes) {
      for (auto& t : index_targets(cache.snapshot(*commit) / idx, idx)) need.push_back(std::move(t));
    }
    for (const auto& n : need) {
      if (!have.count(n)) fail("the cached snapshot ", *commit, " lacks ", n);
    }
  } catch (const Error& e) {
    *why = e.what();
    return std::nullopt;
  }
  Resolved r;
  r.path = sel.entry.empty() ? cache.snapshot(*commit) : cache.snapshot(*commit) / sel.entry;
  r.from_cache = true;
  r.repo = spec.repo;
  r.revision = spec.revision;
  r.commit = *commit;
  return r;
}

}  // namespace

std::vector<std::string> index_targets(const std::filesystem::path& index_file, const std::string& index_repo_path) {
  const std::string text = read_file(index_file);
  if (text.size() > (64u << 20)) fail(index_file.string(), ": larger than 64 MiB, not an index");
  const json j = parse_json(text, index_file.string());
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail(index_file.string(), ": /weight_map: expected an object");
  const auto slash = index_repo_path.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : index_repo_path.substr(0, slash + 1);
  std::set<std::string> out;
  for (const auto& [tensor, v] : j["weight_map"].items()) {
    if (!v.is_string()) fail(index_file.string(), ": /weight_map/", tensor, ": expected a file name");
    const std::string name = dir + v.get<std::string>();
    check_repo_path(name, cat(index_file.string(), ": /weight_map/", tensor));
    out.insert(name);
  }
  return {out.begin(), out.end()};
}

Resolved resolve_hub(const ModelSpec& spec, const ResolveOptions& opt) {
  std::string why;
  if (!opt.check_hub || opt.env.offline) {
    if (auto hit = from_cache(spec, opt, &why)) {
      if (opt.log) opt.log(cat("cached: ", label(spec), " = ", hit->commit, " in ", hit->path.string()));
      return *hit;
    }
  }
  if (opt.env.offline)
    fail(label(spec), ": not usable from the Hugging Face cache at ", opt.env.cache_dir.string(), " (", why,
         "), and HF_HUB_OFFLINE=1 forbids downloading. Unset HF_HUB_OFFLINE where the hub is reachable, "
         "or point HF_HUB_CACHE at a cache that holds this model");

  HttpOptions http;
  http.token = opt.env.token;
  const Listing listing = fetch_listing(spec, opt, http);
  const FileSelection sel = select(spec, opt, listing.names);
  RepoCache cache(opt.env.cache_dir, spec.repo);
  FetchJob job;
  job.cache = &cache;
  job.endpoint = opt.env.endpoint;
  job.repo = spec.repo;
  job.commit = listing.commit;
  job.http = http;
  job.opt = &opt;
  auto remote = [&](const std::string& name, const std::string& named_by) {
    const auto it = listing.files.find(name);
    if (it == listing.files.end())
      fail(label(spec), ": ", named_by, " names ", name, ", which is not in the repository");
    RemoteFile f = it->second;
    if (f.etag.empty()) head_metadata(f, spec, listing.commit, opt, http);
    return f;
  };
  if (opt.log)
    opt.log(cat(label(spec), " = commit ", listing.commit, "; ", sel.files.size(), " file(s) selected from ",
                listing.names.size()));

  Resolved res;
  res.repo = spec.repo;
  res.revision = spec.revision;
  res.commit = listing.commit;
  res.path = sel.entry.empty() ? cache.snapshot(listing.commit) : cache.snapshot(listing.commit) / sel.entry;
  if (opt.dry_run) {
    for (const auto& f : sel.files) {
      const bool is_index = std::find(sel.indexes.begin(), sel.indexes.end(), f) != sel.indexes.end();
      if (opt.log)
        opt.log(cat("would fetch ", f, " (", human_bytes(remote(f, "the selection").size), ")",
                    is_index ? " and the files it names" : ""));
    }
    return res;
  }
  // Indexes first: the files they name are only known once they are here.
  std::vector<RemoteFile> first, rest;
  std::set<std::string> queued;
  for (const auto& idx : sel.indexes) first.push_back(remote(idx, "the selection")), queued.insert(idx);
  if (!first.empty()) {
    const FetchStats st = fetch_files(job, first);
    res.files_downloaded += st.files, res.bytes_downloaded += st.bytes;
  }
  for (const auto& f : sel.files)
    if (queued.insert(f).second) rest.push_back(remote(f, "the selection"));
  for (const auto& idx : sel.indexes) {
    for (const auto& t : index_targets(cache.snapshot(listing.commit) / idx, idx))
      if (queued.insert(t).second) rest.push_back(remote(t, idx));
  }
  // Largest first, so the long transfers overlap instead of ending alone.
  std::stable_sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) { return a.size > b.size; });
  const FetchStats st = fetch_files(job, rest);
  res.files_downloaded += st.files, res.bytes_downloaded += st.bytes;
  cache.write_ref(spec.revision, listing.commit);
  return res;
}

Resolved resolve_model(std::string_view text, const ResolveOptions& opt) {
  if (text.empty()) fail("empty --model");
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(std::string(text)), ec)) {
    Resolved r;
    r.path = std::string(text);
    r.local = true;
    return r;
  }
  std::optional<ModelSpec> spec;
  try {
    spec = parse_model_spec(text);
  } catch (const Error& e) {
    fail(text, ": no such file or directory, and not a valid hub id: ", e.what());
  }
  if (!spec)
    fail(text, ": no such file or directory. A model is a checkpoint folder, a .gguf file, or a hub id "
         "such as Qwen/Qwen3Guard-Gen-0.6B (optionally @revision, :file.gguf)");
  return resolve_hub(*spec, opt);
}

}  // namespace qg::hub
