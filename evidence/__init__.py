"""Evidence hashing, content-addressed store, custody chain and BagIt packets.

Standalone: never imports ``vmsbridge``. Modules:

- :mod:`evidence.store`: ``ContentStore(root)`` keeps blobs by SHA-256 at ``sha256/ab/cd/<digest>``;
  ``put_file`` / ``put_stream`` hash SHA-256 and SHA-512 in one constant-memory pass and publish
  atomically (locked temp file, fsync, rename, fsync dir, mode 0o444); ``open``, ``verify``,
  ``strays``, ``cleanup_temp`` (safe while others write).
- :mod:`evidence.atomic`: files that are whole or absent (``write_atomically``, ``atomic_output``:
  temp file beside the target, fsync, rename); the other standalone packages and the service use it.
- :mod:`evidence.temps`: temporaries named after their host and process and locked while in use;
  ``sweep`` removes the stale ones (a crashed writer's on this host, or a day old and unlocked).
- :mod:`evidence.custody`: frozen ``CustodyEntry`` records chained by SHA-256; ``append`` makes the
  next entry, ``to_jsonl`` / ``from_jsonl`` / ``parse_jsonl`` serialize, ``verify_chain`` names every
  edited, deleted, inserted or reordered entry (pass ``expected_head`` to catch a cut tail).
- :mod:`evidence.bag`: ``build_bag`` writes a BagIt 1.0 packet (optionally zipped, optionally
  Ed25519-signed), refusing payload whose bytes differ from the digests given for it;
  ``keygen`` makes a key pair; ``verify_bag`` returns every problem by name, including any file
  the manifests do not account for and digests that differ from the incident record.

Callers (the service) own persistence: they store custody entries and blob metadata themselves and
pass them in; nothing here keeps global state.
"""
