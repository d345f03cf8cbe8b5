"""Fetching a `code_src`: a local path or `file://`, `http(s)://`, `s3://`, or the handler's
module out of a zip archive (`zip+...://` or a local `.zip`); see `source` for the forms.
Every failure is a SourceError naming the `code_src` (credentials redacted)."""

from __future__ import annotations

import base64 as b64
import io
import re
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from dh_kfp_pulumi.code_src import code_src_scheme, local_path
from dh_kfp_pulumi.errors import SourceError
from dh_kfp_pulumi.specs.validation import shown

_MAX_LISTED = 20


def fetch_code_src(
    code_src: str, module: str | None, base: Path, timeout: float
) -> tuple[str, str, str | None]:
    """(filename, text, module found for a bare handler in an archive)."""
    scheme = code_src_scheme(code_src)
    if scheme is not None and scheme.startswith("zip+"):
        inner = code_src[len("zip+") :]
        data = _fetch_bytes(inner, scheme[len("zip+") :], base, timeout, code_src)
        return _from_archive(code_src, data, module)
    if scheme is None and code_src.lower().endswith(".zip"):
        return _from_archive(
            code_src, _fetch_bytes(code_src, None, base, timeout, code_src), module
        )
    data = _fetch_bytes(code_src, scheme, base, timeout, code_src)
    return code_src, utf8_text(data, "code_src", code_src), None


def _fetch_bytes(
    location: str, scheme: str | None, base: Path, timeout: float, code_src: str
) -> bytes:
    def fail(reason: str) -> SourceError:
        return SourceError(f"code_src {code_src!r}: {reason}")

    if scheme in (None, "file"):
        full = local_path(location, scheme, base)
        try:
            return full.read_bytes()
        except FileNotFoundError:
            raise fail(f"file not found: {full}") from None
        except IsADirectoryError:
            raise fail(f"is a directory, not a file: {full}") from None
        except OSError as exc:
            raise fail(f"cannot read {full}: {exc.strerror or exc}") from None
    if scheme in ("http", "https"):
        return _fetch_http(location, timeout, fail)
    if scheme == "s3":
        return _fetch_s3(location, timeout, fail)
    raise fail(f"unsupported scheme '{scheme}://'")


def _fetch_http(url: str, timeout: float, fail: Callable[[str], SourceError]) -> bytes:
    headers = {"User-Agent": "dh-kfp-pulumi"}
    parts = urllib.parse.urlsplit(url)
    if "@" in parts.netloc:  # `https://user:password@host/...`: HTTP basic auth, as curl does
        userinfo, _, hostport = parts.netloc.rpartition("@")
        if not hostport:
            raise fail("the URL has credentials but no host")
        user, _, password = userinfo.partition(":")
        pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
        headers["Authorization"] = "Basic " + b64.b64encode(pair).decode()
        url = urllib.parse.urlunsplit(parts._replace(netloc=hostport))
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise fail(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise fail(f"no answer within {timeout:g}s") from None
        raise fail(f"cannot fetch: {getattr(reason, 'strerror', None) or reason}") from None
    except TimeoutError:
        raise fail(f"no answer within {timeout:g}s") from None
    except (OSError, ValueError) as exc:
        raise fail(f"cannot fetch: {exc}") from None


def _fetch_s3(url: str, timeout: float, fail: Callable[[str], SourceError]) -> bytes:
    try:
        import boto3  # the `s3` extra, imported here: most programs never read from S3
    except ImportError:
        raise fail(
            "s3:// sources need boto3, which comes with dh-kfp-pulumi's `s3` extra: "
            "pip install 'dh-kfp-pulumi[s3]' (in a checkout: .venv/bin/pip install -e '.[s3]')"
        ) from None
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, _, key = url[len("s3://") :].partition("/")
    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2})
    try:
        client = boto3.session.Session().client("s3", config=config)
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except NoCredentialsError:
        raise fail(
            "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE)"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code == "NoSuchKey" or code == "404":
            raise fail(f"no object {key!r} in bucket {bucket!r}") from None
        if code == "NoSuchBucket":
            raise fail(f"no bucket {bucket!r}") from None
        if code in ("AccessDenied", "403"):
            raise fail(f"access denied to {key!r} in bucket {bucket!r}") from None
        raise fail(f"S3 error {code}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise fail(f"S3 error: {exc}") from None


def _from_archive(code_src: str, data: bytes, module: str | None) -> tuple[str, str, str | None]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise SourceError(f"code_src {code_src!r}: not a zip archive ({exc})") from None
    with archive:
        members = {
            name.removeprefix("./"): name for name in archive.namelist() if not name.endswith("/")
        }
        archive_module = None
        if module is None:
            stem = PurePosixPath(urllib.parse.urlsplit(code_src).path or code_src).stem
            archive_module = identifier(stem)
        wanted = module or archive_module or ""
        base = wanted.replace(".", "/")
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if candidate in members:
                raw = archive.read(members[candidate])
                filename = f"{code_src}/{candidate}"
                return filename, utf8_text(raw, "code_src", filename), archive_module
    python_files = sorted(n for n in members if n.endswith(".py"))
    listed = ", ".join(python_files[:_MAX_LISTED]) or "none"
    if len(python_files) > _MAX_LISTED:
        listed += f", ... ({len(python_files) - _MAX_LISTED} more)"
    how = (
        f"handler module {module!r}"
        if module
        else f"a bare handler, so the module named like the archive, {archive_module!r}"
    )
    raise SourceError(
        f"code_src {code_src!r}: the archive has neither {base}.py nor {base}/__init__.py "
        f"({how}); Python files in it: {listed}. Name the module as handler='module:function'"
    )


def identifier(name: str) -> str:
    """`name` as a Python identifier: other characters `_`, a leading digit prefixed."""
    name = re.sub(r"\W", "_", name)
    return f"_{name}" if name[:1].isdigit() else name


def utf8_text(data: bytes, field: str, value: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{field} {shown(value)!r}: not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None
