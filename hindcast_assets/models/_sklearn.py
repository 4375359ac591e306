"""Saving scikit-learn estimators without pickle: skops, loading only an explicit allow-list
of types beyond those skops trusts by default, so a model file cannot run arbitrary code.

skops names its array files and `__id__` fields after Python object ids and stamps zip entries
with the time, so the same model gives other bytes on every save; `canonical` renumbers both in
order of appearance and fixes the time. A run_dir artefact must be byte-stable (re-materialising
identical content is a no-op, different content is refused).
"""
from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence

_ID = re.compile(r'"__id__": (\d+)')
_QUOTED = re.compile(r'"([^"\\]+\.[a-z]+)"')  # a quoted name with an extension, as skops names its files
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def canonical(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    schema = src.read("schema.json").decode()
    files = sorted((n for n in src.namelist() if n != "schema.json"), key=schema.find)
    renamed = {n: f"{i:06d}{n[n.rfind('.'):]}" for i, n in enumerate(files)}
    # every quoted file name at once (a replace per file was most of a save: 650 files in 600 kB);
    # the new names start with 0, which no id does, so one pass renames as the replaces in turn did
    schema = _QUOTED.sub(lambda m: f'"{renamed.get(m[1], m[1])}"', schema)
    ids: dict[str, int] = {}
    schema = _ID.sub(lambda m: f'"__id__": {ids.setdefault(m[1], len(ids))}', schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name, payload in [("schema.json", schema.encode()), *((renamed[n], src.read(n)) for n in files)]:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, payload)
    return out.getvalue()


def save_skops(estimator) -> bytes:
    import skops.io as sio

    return canonical(sio.dumps(estimator))


def load_skops(data: bytes, trusted: Sequence[str] = ()):
    import skops.io as sio

    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in trusted]
    if untrusted:
        raise ValueError(f"model file holds types that are not trusted: {untrusted}")
    return sio.loads(data, trusted=list(trusted))
