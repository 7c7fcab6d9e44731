// Hub model ids as users type them: `owner/name`, `owner/name@revision`,
// `owner/name:file.gguf`, `owner/name@revision:file.gguf`. Pure string work (no files,
// no network), so it is unit-tested in isolation. Knows the Hugging Face naming rules;
// must not know model formats (a `:file` is just a repo path to the caller).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace qg::hub {

struct ModelSpec {
  std::string repo;      // "owner/name"
  std::string revision;  // branch, tag or 40-hex commit; "main" when not given
  std::string file;      // a repo-relative path after ':' ("" when not given)
};

// The spec when `text` has the hub-id shape; std::nullopt when it does not (then it can
// only be a local path). Throws qg::Error when it has the shape but breaks a rule, with
// the rule ("owner/na--me: '--' is not allowed in a repo name").
std::optional<ModelSpec> parse_model_spec(std::string_view text);

// Hugging Face repo-name rules for one part (owner or name): 1..96 characters of
// [A-Za-z0-9._-], not starting or ending with '-' or '.', no "--" or "..". Returns the
// broken rule, or "" when the part is valid.
std::string check_repo_part(std::string_view part);

// A git commit id as the hub reports it: exactly 40 lowercase hex digits.
bool is_commit_hash(std::string_view s);

// Percent-encodes everything but unreserved characters (RFC 3986), as huggingface_hub's
// quote(x, safe="") does for revisions: "refs/pr/1" -> "refs%2Fpr%2F1".
std::string quote_all(std::string_view s);
// The same but keeps '/', for repo paths inside a URL ("sub/dir/file.gguf").
std::string quote_path(std::string_view s);

// "models--owner--name": the cache folder of a model repo (huggingface_hub layout).
std::string repo_folder_name(std::string_view repo);
// The inverse: "owner/name", or std::nullopt for a folder that is not a model repo.
std::optional<std::string> repo_from_folder_name(std::string_view folder);

// A repo-relative path a server (or a user) handed us, checked before it becomes a
// file name in the cache: non-empty, relative, no "." or ".." component, no empty
// component, no backslash or control character, at most 1024 bytes. Throws qg::Error
// naming `what` (e.g. "file name in the repo listing").
void check_repo_path(std::string_view path, std::string_view what);

}  // namespace qg::hub
