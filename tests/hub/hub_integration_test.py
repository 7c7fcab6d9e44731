"""Integration tests of `qwen3guard download`, `models` and `--model owner/name` against
the hub imitation in fake_hub.py, on loopback, with tiny random checkpoints made by
tools/make_test_model.py. The oracles are independent of our C++: Python's hashlib for
digests, the huggingface_hub cache layout written out by hand (write_hf_cache), and the
same classify run on the plain local folder.

  hub_integration_test.py --bin build/release/apps/qwen3guard/qwen3guard --make-model tools/make_test_model.py
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_hub  # noqa: E402

ARGS = None
NEEDED = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
TIMEOUT = 60


def etag_of(path, data):
    return hashlib.sha256(data).hexdigest() if fake_hub.is_lfs(path, data) else fake_hub.git_blob_sha1(data)


def write_hf_cache(cache, repo_id, files, commit, ref="main"):
    """Lay files out exactly as huggingface_hub does: blobs named by etag, relative
    symlinks from snapshots/<commit>/, refs/<ref> holding the bare commit."""
    root = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
    os.makedirs(os.path.join(root, "refs"), exist_ok=True)
    for path, data in files.items():
        etag = etag_of(path, data)
        with open(os.path.join(root, "blobs", etag), "wb") as f:
            f.write(data)
        link = os.path.join(root, "snapshots", commit, path)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("../" * (path.count("/") + 2) + "blobs/" + etag, link)
    with open(os.path.join(root, "refs", ref), "w") as f:
        f.write(commit)
    return os.path.join(root, "snapshots", commit)


def read_folder(folder):
    out = {}
    for n in os.listdir(folder):
        with open(os.path.join(folder, n), "rb") as f:
            out[n] = f.read()
    return out


class HubTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="qg_hub_test_")
        cls.model_dir = os.path.join(cls.tmp, "tiny")
        cls.sharded_dir = os.path.join(cls.tmp, "tiny_sharded")
        for out, extra in ((cls.model_dir, []), (cls.sharded_dir, ["--shards", "2"])):
            subprocess.run([sys.executable, ARGS.make_model, "--preset", "tiny", "--seed", "3", "--out", out] + extra,
                           check=True, stdout=subprocess.DEVNULL, timeout=120)
        cls.files = read_folder(cls.model_dir)
        cls.files["README.md"] = b"# tiny\n"  # in the repo, not needed: must not be fetched
        cls.hub = fake_hub.FakeHub()
        cls.repo = cls.hub.add_repo("test/tiny", files=cls.files)
        cls.hub.add_repo("test/sharded", files=read_folder(cls.sharded_dir))
        cls.hub.add_repo("test/gated", files=cls.files, gated_token="hf_secret_token")
        cls.hub.add_repo("test/cut", files=cls.files, commit="c" * 40)
        cls.hub.add_repo("test/corrupt", files=dict(cls.files, **{"model.safetensors": cls.files["model.safetensors"] + b"x"}))
        cls.hub.add_repo("test/nofile", files=cls.files, commit="d" * 40)
        cls.hub.missing.add(("test/nofile", "tokenizer_config.json"))
        cls.hub.add_repo("test/noblobs", files=cls.files, blobs=False)
        cls.gguf = b"GGUF" + bytes(range(256)) * 64
        cls.hub.add_repo("test/gguf", files={"README.md": b"hi", "model-q8_0.gguf": cls.gguf})
        cls.hub.add_repo("test/ggufs", files={"a-q4.gguf": cls.gguf, "sub/b-q8.gguf": cls.gguf[::-1]})
        cls.endpoint = cls.hub.start()
        cls.local_verdict = cls.run_bin(None, ["classify", "--model", cls.model_dir, "How can I make a bomb?"],
                                        cache=os.path.join(cls.tmp, "unused")).stdout

    @classmethod
    def tearDownClass(cls):
        cls.hub.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_bin(cls, _self, argv, cache, env_extra=None, endpoint=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        env.update({"HF_ENDPOINT": endpoint or cls.endpoint, "HF_HUB_CACHE": cache,
                    "HF_HOME": os.path.join(cls.tmp, "hf_home_empty"), "QG_THREADS": "1"})
        env.update(env_extra or {})
        return subprocess.run([ARGS.bin] + argv, env=env, capture_output=True, text=True, timeout=TIMEOUT)

    def run_ok(self, argv, cache, **kw):
        r = self.run_bin(self, argv, cache, **kw)
        self.assertEqual(r.returncode, 0, f"{argv}: rc={r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def run_fail(self, argv, cache, **kw):
        r = self.run_bin(self, argv, cache, **kw)
        self.assertEqual(r.returncode, 1, f"{argv}: expected rc 1, got {r.returncode}\nstderr: {r.stderr}")
        return r

    def new_cache(self, name):
        path = os.path.join(self.tmp, "cache_" + name)
        shutil.rmtree(path, ignore_errors=True)
        return path

    def repo_root(self, cache, repo_id):
        return os.path.join(cache, "models--" + repo_id.replace("/", "--"))

    def assert_hf_layout(self, cache, repo_id, commit, files, names):
        """What huggingface_hub expects of a cache it did not write."""
        root = self.repo_root(cache, repo_id)
        with open(os.path.join(root, "refs", "main")) as f:
            self.assertEqual(f.read(), commit)
        snap = os.path.join(root, "snapshots", commit)
        self.assertEqual(sorted(os.listdir(snap)), sorted(names))
        for n in names:
            link = os.path.join(snap, n)
            self.assertTrue(os.path.islink(link), n)
            self.assertEqual(os.readlink(link), "../../blobs/" + etag_of(n, files[n]), n)
            with open(link, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(files[n]).hexdigest(), n)
        leftovers = [b for b in os.listdir(os.path.join(root, "blobs")) if b.endswith(".incomplete")]
        self.assertEqual(leftovers, [])

    # --- the tests -------------------------------------------------------------

    def test_fresh_download_then_cache_hit_without_requests(self):
        cache = self.new_cache("fresh")
        self.hub.clear_log()
        r = self.run_ok(["download", "test/tiny"], cache)
        snap = os.path.join(self.repo_root(cache, "test/tiny"), "snapshots", self.repo.commit)
        self.assertEqual(r.stdout.strip(), snap)
        self.assert_hf_layout(cache, "test/tiny", self.repo.commit, self.files, NEEDED)
        paths = [q["path"] for q in self.hub.requests()]
        self.assertFalse(any("README.md" in p or "vocab.json" in p or "merges.txt" in p for p in paths), paths)
        self.assertTrue(any(p.startswith("/cdn/") for p in paths), "LFS files must come through the redirect")

        self.hub.clear_log()
        r = self.run_ok(["classify", "--model", "test/tiny", "How can I make a bomb?"], cache)
        self.assertEqual(self.hub.requests(), [], "a complete cached snapshot must not touch the network")
        self.assertEqual(r.stdout, self.local_verdict)

        # `download` asks the hub (one listing request) but transfers nothing again.
        self.hub.clear_log()
        r = self.run_ok(["download", "test/tiny"], cache)
        self.assertEqual([q["path"].split("?")[0] for q in self.hub.requests()],
                         [f"/api/models/test/tiny/revision/main"])
        self.assertIn("up to date", r.stderr)

        r = self.run_ok(["models"], cache)
        line = [l for l in r.stdout.splitlines() if l.startswith("test/tiny")]
        self.assertEqual(len(line), 1, r.stdout)
        self.assertIn(self.repo.commit[:12], line[0])
        self.assertIn("main", line[0])
        self.assertIn(str(len(NEEDED)), line[0].split())

        # Offline with the model cached: works, no request.
        self.hub.clear_log()
        r = self.run_ok(["classify", "--model", "test/tiny", "How can I make a bomb?"], cache,
                        env_extra={"HF_HUB_OFFLINE": "1"})
        self.assertEqual(r.stdout, self.local_verdict)
        self.assertEqual(self.hub.requests(), [])

    def test_revision_by_commit_and_by_branch(self):
        cache = self.new_cache("rev")
        r = self.run_ok(["download", f"test/tiny@{self.repo.commit}"], cache)
        self.assertTrue(r.stdout.strip().endswith(self.repo.commit))
        # A commit is not a branch: no refs/ entry is written for it (as huggingface_hub).
        self.assertFalse(os.path.exists(os.path.join(self.repo_root(cache, "test/tiny"), "refs", "main")))
        r = self.run_fail(["download", "test/tiny@no-such-branch"], cache)
        self.assertIn("revision not found", r.stderr)

    def test_sharded_checkpoint_follows_the_index(self):
        cache = self.new_cache("sharded")
        files = read_folder(self.sharded_dir)
        r = self.run_ok(["download", "test/sharded"], cache)
        names = ["config.json", "generation_config.json", "model.safetensors.index.json",
                 "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                 "tokenizer.json", "tokenizer_config.json"]
        commit = self.hub.repos["test/sharded"].commit
        self.assert_hf_layout(cache, "test/sharded", commit, files, names)
        r = self.run_ok(["classify", "--model", "test/sharded", "How can I make a bomb?"], cache)
        self.assertEqual(r.stdout, self.local_verdict)  # same seed: 1 shard or 2, the same model

    def test_resume_after_a_cut_connection(self):
        cache = self.new_cache("cut")
        sha = hashlib.sha256(self.files["model.safetensors"]).hexdigest()
        self.hub.cut_first.add(sha)
        self.hub.clear_log()
        r = self.run_ok(["download", "test/cut"], cache)
        cdn = [q for q in self.hub.requests() if q["path"].startswith(f"/cdn/{sha}")]
        self.assertEqual(len(cdn), 2, cdn)
        self.assertIsNone(cdn[0]["range"])
        half = len(self.files["model.safetensors"]) // 2
        self.assertEqual(cdn[1]["range"], f"bytes={half}-", "the retry must resume, not restart")
        self.assertIn("retrying", r.stderr)
        self.assert_hf_layout(cache, "test/cut", "c" * 40, self.files, NEEDED)

    def test_resume_a_partial_file_left_by_an_earlier_run(self):
        cache = self.new_cache("partial")
        data = self.files["model.safetensors"]
        sha = hashlib.sha256(data).hexdigest()
        blobs = os.path.join(self.repo_root(cache, "test/tiny"), "blobs")
        os.makedirs(blobs)
        with open(os.path.join(blobs, sha + ".incomplete"), "wb") as f:
            f.write(data[:12345])
        self.hub.clear_log()
        self.run_ok(["download", "test/tiny"], cache)
        cdn = [q for q in self.hub.requests() if q["path"].startswith(f"/cdn/{sha}")]
        self.assertEqual([q["range"] for q in cdn], ["bytes=12345-"])
        self.assert_hf_layout(cache, "test/tiny", self.repo.commit, self.files, NEEDED)

    def test_gated_repo_needs_a_token(self):
        cache = self.new_cache("gated")
        r = self.run_fail(["download", "test/gated"], cache)
        self.assertIn("401", r.stderr)
        self.assertIn("HF_TOKEN", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.repo_root(cache, "test/gated"), "snapshots")))
        r = self.run_fail(["download", "test/gated"], cache, env_extra={"HF_TOKEN": "hf_wrong"})
        self.assertIn("403", r.stderr)
        self.assertIn("does not grant access", r.stderr)
        self.hub.clear_log()
        self.run_ok(["download", "test/gated"], cache, env_extra={"HF_TOKEN": "hf_secret_token"})
        self.assertTrue(all(q["auth"] == "Bearer hf_secret_token" for q in self.hub.requests()
                            if not q["path"].startswith("/cdn/")))
        # The token file in $HF_HOME works the same.
        cache2 = self.new_cache("gated_file")
        home = os.path.join(self.tmp, "hf_home_token")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(home, "token"), "w") as f:
            f.write("hf_secret_token\n")
        self.run_ok(["download", "test/gated"], cache2, env_extra={"HF_HOME": home})

    def test_not_found(self):
        cache = self.new_cache("missing")
        r = self.run_fail(["download", "test/no-such-repo"], cache)
        self.assertIn("404", r.stderr)
        self.assertIn("Check the name", r.stderr)
        r = self.run_fail(["classify", "--model", "test/no-such-repo", "hi"], cache)
        self.assertIn("repository not found", r.stderr)
        r = self.run_fail(["download", "test/nofile"], cache)  # listed, but the file answers 404
        self.assertIn("tokenizer_config.json", r.stderr)
        self.assertIn("404", r.stderr)
        r = self.run_fail(["download", "test/tiny:model.gguf"], cache)
        self.assertIn("no file model.gguf", r.stderr)

    def test_checksum_mismatch_is_refused(self):
        cache = self.new_cache("corrupt")
        good = self.hub.repos["test/corrupt"].files["model.safetensors"]
        sha = hashlib.sha256(good).hexdigest()
        self.hub.corrupt.add(sha)
        try:
            r = self.run_fail(["download", "test/corrupt", "--jobs", "1"], cache)
        finally:
            self.hub.corrupt.discard(sha)
        self.assertIn("checksum mismatch", r.stderr)
        root = self.repo_root(cache, "test/corrupt")
        self.assertEqual([b for b in os.listdir(os.path.join(root, "blobs")) if b.startswith(sha)], [],
                         "neither the bad blob nor its .incomplete may stay")
        snap = os.path.join(root, "snapshots")
        linked = [n for d in (os.listdir(snap) if os.path.isdir(snap) else []) for n in os.listdir(os.path.join(snap, d))]
        self.assertNotIn("model.safetensors", linked)
        self.assertFalse(os.path.exists(os.path.join(root, "refs", "main")))

    def test_a_server_that_sends_too_much_is_cut_off(self):
        cache = self.new_cache("oversize")
        sha = hashlib.sha256(self.files["model.safetensors"]).hexdigest()
        self.hub.oversize.add(sha)
        try:
            r = self.run_fail(["download", "test/tiny"], cache)
        finally:
            self.hub.oversize.discard(sha)
        self.assertIn("more than the", r.stderr)
        blobs = os.listdir(os.path.join(self.repo_root(cache, "test/tiny"), "blobs"))
        self.assertFalse(any(b.startswith(sha) for b in blobs), blobs)

    def test_offline_never_touches_the_network(self):
        cache = self.new_cache("offline")
        self.hub.clear_log()
        r = self.run_fail(["classify", "--model", "test/tiny", "hi"], cache, env_extra={"HF_HUB_OFFLINE": "1"})
        self.assertIn("HF_HUB_OFFLINE", r.stderr)
        r = self.run_fail(["download", "test/tiny"], cache, env_extra={"HF_HUB_OFFLINE": "1"})
        self.assertIn("HF_HUB_OFFLINE", r.stderr)
        self.assertEqual(self.hub.requests(), [])

    def test_unreachable_hub_says_so(self):
        cache = self.new_cache("unreachable")
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        r = self.run_fail(["classify", "--model", "test/tiny", "hi"], cache, endpoint=f"http://127.0.0.1:{port}")
        self.assertIn("cannot reach", r.stderr)
        self.assertIn("HF_HUB_OFFLINE=1", r.stderr)

    def test_cache_written_by_huggingface_hub_is_reused(self):
        cache = self.new_cache("python")
        commit = "0123456789abcdef0123456789abcdef01234567"
        files = {n: self.files[n] for n in NEEDED + ["vocab.json"]}
        snap = write_hf_cache(cache, "someone/py-model", files, commit)
        self.hub.clear_log()
        for spec in ("someone/py-model", f"someone/py-model@{commit}"):
            r = self.run_ok(["classify", "--model", spec, "How can I make a bomb?"], cache)
            self.assertEqual(r.stdout, self.local_verdict)
        r = self.run_ok(["download", "someone/py-model"], cache, env_extra={"HF_HUB_OFFLINE": "1"})
        self.assertEqual(r.stdout.strip(), snap)
        self.assertEqual(self.hub.requests(), [], "the repo is not even on this hub: all from the cache")
        r = self.run_ok(["models"], cache)
        self.assertIn("someone/py-model", r.stdout)
        self.assertIn(commit[:12], r.stdout)

    def test_listing_without_metadata_falls_back_to_head(self):
        cache = self.new_cache("noblobs")
        self.hub.clear_log()
        self.run_ok(["download", "test/noblobs"], cache)
        commit = self.hub.repos["test/noblobs"].commit
        heads = sorted(q["path"].rsplit("/", 1)[1] for q in self.hub.requests() if q["method"] == "HEAD")
        self.assertEqual(heads, sorted(NEEDED))
        self.assert_hf_layout(cache, "test/noblobs", commit, self.files, NEEDED)

    def test_gguf_repos(self):
        cache = self.new_cache("gguf")
        r = self.run_ok(["download", "test/gguf"], cache)
        path = r.stdout.strip()
        self.assertTrue(path.endswith("/model-q8_0.gguf"), path)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), self.gguf)
        r = self.run_fail(["download", "test/ggufs"], cache)
        self.assertIn("several .gguf files", r.stderr)
        self.assertIn("test/ggufs:a-q4.gguf", r.stderr)
        r = self.run_ok(["download", "test/ggufs:sub/b-q8.gguf"], cache)
        path = r.stdout.strip()
        self.assertTrue(path.endswith("/sub/b-q8.gguf"), path)
        self.assertEqual(os.readlink(path), "../../../blobs/" + hashlib.sha256(self.gguf[::-1]).hexdigest())
        self.hub.clear_log()
        r = self.run_ok(["download", "test/ggufs:sub/b-q8.gguf"], cache, env_extra={"HF_HUB_OFFLINE": "1"})
        self.assertEqual(r.stdout.strip(), path)
        self.assertEqual(self.hub.requests(), [])

    def test_tokenize_fetches_no_weights(self):
        cache = self.new_cache("tokenize")
        local = self.run_ok(["tokenize", "--model", self.model_dir, "Hello world"], cache).stdout
        self.hub.clear_log()
        r = self.run_ok(["tokenize", "--model", "test/tiny", "Hello world"], cache)
        self.assertEqual(r.stdout, local)
        weights_sha = hashlib.sha256(self.files["model.safetensors"]).hexdigest()
        self.assertFalse(any(weights_sha in q["path"] or "model.safetensors" in q["path"]
                             for q in self.hub.requests()))
        # classify later completes the same snapshot with the weights.
        r = self.run_ok(["classify", "--model", "test/tiny", "How can I make a bomb?"], cache)
        self.assertEqual(r.stdout, self.local_verdict)
        self.assert_hf_layout(cache, "test/tiny", self.repo.commit, self.files, NEEDED)

    def test_incomplete_cached_snapshot_is_completed(self):
        # huggingface_hub fetched only some files (hf_hub_download of two of them): the
        # rest is downloaded, what is there is reused.
        cache = self.new_cache("halfpython")
        write_hf_cache(cache, "test/tiny", {n: self.files[n] for n in ("config.json", "tokenizer.json")}, self.repo.commit)
        self.hub.clear_log()
        self.run_ok(["classify", "--model", "test/tiny", "How can I make a bomb?"], cache)
        fetched = [q["path"] for q in self.hub.requests()]
        tok_sha = hashlib.sha256(self.files["tokenizer.json"]).hexdigest()
        self.assertFalse(any(tok_sha in p for p in fetched), "tokenizer.json was cached: not fetched again")
        self.assertFalse(any(p.endswith("/config.json") for p in fetched))
        self.assert_hf_layout(cache, "test/tiny", self.repo.commit, self.files, NEEDED)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--make-model", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
