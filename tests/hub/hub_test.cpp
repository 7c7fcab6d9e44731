// Unit tests of hub/ that need no network: hub-id parsing and naming rules, digests
// (against published test vectors and `git hash-object`), the environment rules, and
// the cache layout (symlinks, refs) on a temporary folder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "base/error.h"
#include "hub/cache.h"
#include "hub/digest.h"
#include "hub/hub_id.h"
#include "hub/resolve.h"

namespace qg::hub {
namespace {

std::optional<ModelSpec> parse(const std::string& s) { return parse_model_spec(s); }

TEST(HubId, ParsesTheForms) {
  auto s = parse("Qwen/Qwen3Guard-Gen-0.6B");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->repo, "Qwen/Qwen3Guard-Gen-0.6B");
  EXPECT_EQ(s->revision, "main");
  EXPECT_EQ(s->file, "");
  s = parse("Qwen/Qwen3Guard-Gen-8B@v1.0");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->repo, "Qwen/Qwen3Guard-Gen-8B");
  EXPECT_EQ(s->revision, "v1.0");
  s = parse("someone/Qwen3Guard-GGUF:qwen3guard-q8_0.gguf");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->revision, "main");
  EXPECT_EQ(s->file, "qwen3guard-q8_0.gguf");
  s = parse("a_b/c.d@refs/pr/1:sub/x.gguf");  // branch names may contain '/'
  ASSERT_TRUE(s);
  EXPECT_EQ(s->repo, "a_b/c.d");
  EXPECT_EQ(s->revision, "refs/pr/1");
  EXPECT_EQ(s->file, "sub/x.gguf");
}

TEST(HubId, PathsAreNotHubIds) {
  for (const char* p : {"/abs/model", "./models/x", "../x/y", "~/models/x", "a/b/c", "model.gguf", "dir",
                        "my dir/x", "a/b c", ""})
    EXPECT_FALSE(parse(p)) << p;
}

TEST(HubId, BrokenRulesAreErrorsThatSayWhich) {
  const std::map<std::string, std::string> cases = {
      {"a--b/c", "'--'"},       {"a/b..c", "'..'"},        {"-a/b", "start or end"},
      {"a/b.", "start or end"}, {"a/", "empty"},           {"a/b@", "empty revision"},
      {"a/b:", "empty file"},   {"a/b@x..y", "'..'"},      {"a/b:../x.gguf", "'..'"},
      {"a/b:/x.gguf", "absolute"}, {"a/" + std::string(97, 'n'), "96"},
  };
  for (const auto& [text, why] : cases) {
    try {
      parse(text);
      ADD_FAILURE() << text << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << text << ": " << e.what();
    }
  }
  EXPECT_EQ(check_repo_part("Qwen3Guard-Gen-0.6B"), "");
}

TEST(HubId, CommitsQuotingFolders) {
  EXPECT_TRUE(is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_hash("main"));
  EXPECT_EQ(quote_all("refs/pr/1"), "refs%2Fpr%2F1");
  EXPECT_EQ(quote_all("v1.0_a-b~c"), "v1.0_a-b~c");
  EXPECT_EQ(quote_path("sub dir/f+1.gguf"), "sub%20dir/f%2B1.gguf");
  EXPECT_EQ(repo_folder_name("Qwen/Qwen3Guard-Gen-0.6B"), "models--Qwen--Qwen3Guard-Gen-0.6B");
  EXPECT_EQ(repo_from_folder_name("models--Qwen--Qwen3Guard-Gen-0.6B"), "Qwen/Qwen3Guard-Gen-0.6B");
  EXPECT_EQ(repo_from_folder_name("models--gpt2"), "gpt2");
  EXPECT_FALSE(repo_from_folder_name("datasets--a--b"));
  EXPECT_FALSE(repo_from_folder_name(".locks"));
}

TEST(HubId, RepoPathsFromOutsideAreChecked) {
  EXPECT_NO_THROW(check_repo_path("a/b/model.safetensors", "t"));
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "a\nb"})
    EXPECT_THROW(check_repo_path(bad, "t"), Error) << bad;
}

TEST(Digest, KnownVectors) {
  // FIPS 180-2 test vector; git hash-object of "hello\n" and of the empty file.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(git_blob_sha1_hex("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
  EXPECT_EQ(git_blob_sha1_hex(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  const fs::path p = fs::temp_directory_path() / ("qg_digest_" + std::to_string(::getpid()));
  std::string big(3u << 20, 'x');  // crosses the 1 MiB read blocks
  big[12345] = 'y';
  std::ofstream(p, std::ios::binary) << big;
  EXPECT_EQ(sha256_file(p), sha256_hex(big));
  EXPECT_EQ(git_blob_sha1_file(p), git_blob_sha1_hex(big));
  fs::remove(p);
  EXPECT_THROW(sha256_file("/nonexistent/x"), Error);
}

struct FakeEnv {
  std::map<std::string, std::string> vars;
  HubEnv read() const {
    return HubEnv::from_environment([this](const char* n) -> const char* {
      const auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    });
  }
};

TEST(HubEnv, FollowsHuggingfaceHubRules) {
  FakeEnv e{{{"HOME", "/h"}}};
  EXPECT_EQ(e.read().cache_dir, "/h/.cache/huggingface/hub");
  EXPECT_EQ(e.read().endpoint, "https://huggingface.co");
  EXPECT_FALSE(e.read().offline);
  e.vars["XDG_CACHE_HOME"] = "/x";
  EXPECT_EQ(e.read().cache_dir, "/x/huggingface/hub");
  e.vars["HF_HOME"] = "/hf";
  EXPECT_EQ(e.read().cache_dir, "/hf/hub");
  e.vars["HF_HUB_CACHE"] = "/c";
  EXPECT_EQ(e.read().cache_dir, "/c");
  e.vars["HF_ENDPOINT"] = "http://mirror:8080/";
  EXPECT_EQ(e.read().endpoint, "http://mirror:8080");
  for (const char* v : {"1", "ON", "yes", "True"}) {
    e.vars["HF_HUB_OFFLINE"] = v;
    EXPECT_TRUE(e.read().offline) << v;
  }
  e.vars["HF_HUB_OFFLINE"] = "0";
  EXPECT_FALSE(e.read().offline);
}

TEST(HubEnv, TokenFromVariableThenFile) {
  const fs::path home = fs::temp_directory_path() / ("qg_hf_home_" + std::to_string(::getpid()));
  fs::create_directories(home);
  std::ofstream(home / "token") << "hf_from_file\n";
  FakeEnv e{{{"HF_HOME", home.string()}}};
  EXPECT_EQ(e.read().token, "hf_from_file");
  e.vars["HF_TOKEN"] = " hf_from_env ";
  EXPECT_EQ(e.read().token, "hf_from_env");
  EXPECT_EQ(e.read().token_source, "HF_TOKEN");
  fs::remove_all(home);
  FakeEnv none{{{"HF_HOME", "/nonexistent"}}};
  EXPECT_EQ(none.read().token, "");
}

TEST(RepoCache, LayoutAsHuggingfaceHubWritesIt) {
  const fs::path dir = fs::temp_directory_path() / ("qg_cache_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  RepoCache c(dir, "owner/name");
  EXPECT_EQ(c.root(), dir / "models--owner--name");
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  fs::create_directories(c.blob("e1").parent_path());
  std::ofstream(c.blob("e1")) << "one";
  std::ofstream(c.blob("e2")) << "two";
  c.link(commit, "config.json", "e1");
  c.link(commit, "sub/dir/model.gguf", "e2");
  c.link(commit, "dangling.json", "nonexistent");
  EXPECT_EQ(fs::read_symlink(c.snapshot(commit) / "config.json"), "../../blobs/e1");
  EXPECT_EQ(fs::read_symlink(c.snapshot(commit) / "sub/dir/model.gguf"), "../../../../blobs/e2");
  EXPECT_EQ(c.snapshot_files(commit), (std::vector<std::string>{"config.json", "sub/dir/model.gguf"}));

  EXPECT_FALSE(c.commit_of("main"));
  c.write_ref("main", commit);
  std::ifstream ref(c.root() / "refs" / "main");
  std::string text((std::istreambuf_iterator<char>(ref)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, commit);  // the bare hash, no newline
  EXPECT_EQ(c.commit_of("main"), commit);
  EXPECT_EQ(c.commit_of(commit), commit);
  c.write_ref(commit, commit);  // a commit is not a ref
  EXPECT_FALSE(fs::exists(c.root() / "refs" / commit));

  const auto repos = scan_cache(dir);
  ASSERT_EQ(repos.size(), 1u);
  EXPECT_EQ(repos[0].repo, "owner/name");
  ASSERT_EQ(repos[0].revisions.size(), 1u);
  EXPECT_EQ(repos[0].revisions[0].refs, std::vector<std::string>{"main"});
  EXPECT_EQ(repos[0].revisions[0].files, 2);
  EXPECT_EQ(repos[0].revisions[0].size, 6);
  fs::remove_all(dir);
}

TEST(Resolve, IndexTargets) {
  const fs::path p = fs::temp_directory_path() / ("qg_index_" + std::to_string(::getpid()) + ".json");
  std::ofstream(p) << R"({"metadata": {}, "weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors",
                          "c": "m-1.safetensors"}})";
  EXPECT_EQ(index_targets(p, "model.safetensors.index.json"),
            (std::vector<std::string>{"m-1.safetensors", "m-2.safetensors"}));
  EXPECT_EQ(index_targets(p, "sub/model.safetensors.index.json"),
            (std::vector<std::string>{"sub/m-1.safetensors", "sub/m-2.safetensors"}));
  std::ofstream(p) << R"({"weight_map": {"a": "../../etc/passwd"}})";
  EXPECT_THROW(index_targets(p, "x.json"), Error);
  std::ofstream(p) << R"({"weight_map": []})";
  EXPECT_THROW(index_targets(p, "x.json"), Error);
  std::ofstream(p) << R"({"weight_map": {"a": )" << std::string(100000, '[');  // hostile nesting
  EXPECT_THROW(index_targets(p, "x.json"), Error);
  fs::remove(p);
}

TEST(Resolve, LocalPathsAndNonIds) {
  ResolveOptions opt;
  opt.env.offline = true;
  const auto r = resolve_model(fs::temp_directory_path().string(), opt);
  EXPECT_TRUE(r.local);
  EXPECT_THROW(resolve_model("./no/such/dir", opt), Error);
  EXPECT_THROW(resolve_model("", opt), Error);
}

}  // namespace
}  // namespace qg::hub
