"""Evidence hashing, content-addressed store, custody chain and BagIt packets (issue #6).

Standalone: never imports ``vmsbridge``. Modules:

- :mod:`evidence.store`: ``ContentStore(root)`` keeps blobs by SHA-256 at ``sha256/ab/cd/<digest>``;
  ``put_file`` / ``put_stream`` hash SHA-256 and SHA-512 in one constant-memory pass and publish
  atomically (temp file, fsync, rename, fsync dir, mode 0o444); ``open``, ``verify``,
  ``cleanup_temp`` (call at startup, before any writer runs).
- :mod:`evidence.custody`: frozen ``CustodyEntry`` records chained by SHA-256; ``append`` makes the
  next entry, ``to_jsonl`` / ``from_jsonl`` / ``parse_jsonl`` serialize, ``verify_chain`` names every
  edited, deleted, inserted or reordered entry (pass ``expected_head`` to catch a cut tail).
- :mod:`evidence.bag`: ``build_bag`` writes a BagIt 1.0 packet (optionally zipped, optionally
  Ed25519-signed), ``keygen`` makes a key pair, ``verify_bag`` returns every problem by name.

Callers (the service) own persistence: they store custody entries and blob metadata themselves and
pass them in; nothing here keeps global state.
"""
