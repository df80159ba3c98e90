"""The message reference: one Markdown page per proto package, written from
the ``.proto`` comments at docs-build time (``make docs`` runs it).

    python tools/gen_proto_docs.py [OUT_DIR]   # default docs/reference/messages

``buf build`` gives a FileDescriptorSet with source info (the comments);
each page lists the package's services and RPCs, then every message (each
field's type, label and comment, and the RPCs whose request or response
holds it) and every enum with its values. A service, RPC, message, field,
enum or value without a comment is an error (``buf lint``'s COMMENTS rule
says the same), so the reference never has a blank.
"""

from __future__ import annotations

import collections
import pathlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reference" / "messages"

FDP = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    FDP.TYPE_DOUBLE: "double",
    FDP.TYPE_FLOAT: "float",
    FDP.TYPE_INT64: "int64",
    FDP.TYPE_UINT64: "uint64",
    FDP.TYPE_INT32: "int32",
    FDP.TYPE_FIXED64: "fixed64",
    FDP.TYPE_FIXED32: "fixed32",
    FDP.TYPE_BOOL: "bool",
    FDP.TYPE_STRING: "string",
    FDP.TYPE_BYTES: "bytes",
    FDP.TYPE_UINT32: "uint32",
    FDP.TYPE_SFIXED32: "sfixed32",
    FDP.TYPE_SFIXED64: "sfixed64",
    FDP.TYPE_SINT32: "sint32",
    FDP.TYPE_SINT64: "sint64",
}
# Paths into a FileDescriptorProto (descriptor.proto's field numbers).
MESSAGE, ENUM, SERVICE = 4, 5, 6
FIELD, NESTED, NESTED_ENUM = 2, 3, 4
VALUE, METHOD = 2, 2


@dataclass
class Message:
    name: str  # full name without the leading dot
    proto: descriptor_pb2.DescriptorProto
    path: tuple[int, ...]
    used_by: set[str] = field(default_factory=set)


@dataclass
class Package:
    name: str
    comment: str = ""
    files: list[descriptor_pb2.FileDescriptorProto] = field(default_factory=list)


def build_descriptors() -> descriptor_pb2.FileDescriptorSet:
    """The module's descriptors with source info, from ``buf build``."""
    buf = shutil.which("buf", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("buf")
    if buf is None:
        raise SystemExit("buf not found: run 'make venv' (buf-bin is in the dev extra)")
    with tempfile.TemporaryDirectory() as tmp:
        image = pathlib.Path(tmp) / "image.binpb"
        subprocess.run([buf, "build", "-o", str(image)], cwd=ROOT, check=True)
        return descriptor_pb2.FileDescriptorSet.FromString(image.read_bytes())


def comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """Every element's leading (else trailing) comment, by its path."""
    found = {}
    for location in file.source_code_info.location:
        text = location.leading_comments or location.trailing_comments
        if text.strip():
            lines = [line[1:] if line.startswith(" ") else line for line in text.splitlines()]
            found[tuple(location.path)] = "\n".join(lines).strip()
    return found


def anchor(full_name: str) -> str:
    """The label of a message's or enum's section (Sphinx lowercases labels)."""
    return "proto-" + full_name.replace(".", "-").lower()


def one_line(text: str) -> str:
    """A comment for a table cell: paragraphs joined, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def walk_messages(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[Message]:
    def walk(
        protos: Iterable[descriptor_pb2.DescriptorProto],
        prefix: str,
        path: tuple[int, ...],
        tag: int,
    ) -> Iterator[Message]:
        for index, proto in enumerate(protos):
            here = (*path, tag, index)
            yield Message(f"{prefix}.{proto.name}", proto, here)
            yield from walk(proto.nested_type, f"{prefix}.{proto.name}", here, NESTED)

    yield from walk(file.message_type, file.package, (), MESSAGE)


def walk_enums(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[str, descriptor_pb2.EnumDescriptorProto, tuple[int, ...]]]:
    for index, enum in enumerate(file.enum_type):
        yield f"{file.package}.{enum.name}", enum, (ENUM, index)
    for message in walk_messages(file):
        for index, enum in enumerate(message.proto.enum_type):
            yield f"{message.name}.{enum.name}", enum, (*message.path, NESTED_ENUM, index)


class Reference:
    """Every message and enum of the module, and the RPCs that use them."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self.ours = [f for f in files.file if not f.package.startswith("google.")]
        self.messages: dict[str, Message] = {}
        self.enums: set[str] = set()
        for file in files.file:
            for message in walk_messages(file):
                self.messages[message.name] = message
            self.enums.update(name for name, _, _ in walk_enums(file))
        for file in self.ours:
            for service in file.service:
                for method in service.method:
                    rpc = f"{file.package}.{service.name}.{method.name}"
                    self._mark(method.input_type.lstrip("."), f"{rpc} (request)", set())
                    self._mark(method.output_type.lstrip("."), f"{rpc} (response)", set())

    def _mark(self, name: str, rpc: str, seen: set[str]) -> None:
        """``rpc`` uses ``name`` and every message inside it, at any depth."""
        message = self.messages.get(name)
        if message is None or name in seen:
            return
        seen.add(name)
        message.used_by.add(rpc)
        for f in message.proto.field:
            if f.type == FDP.TYPE_MESSAGE:
                self._mark(f.type_name.lstrip("."), rpc, seen)

    def type_text(self, f: descriptor_pb2.FieldDescriptorProto, package: str) -> str:
        """A field's type, linked when it is one of ours; maps as ``map<K, V>``."""
        if f.type in SCALARS:
            return f"`{SCALARS[f.type]}`"
        name = f.type_name.lstrip(".")
        entry = self.messages.get(name)
        if entry is not None and entry.proto.options.map_entry:
            key, value = entry.proto.field
            return f"map<{self.type_text(key, package)}, {self.type_text(value, package)}>"
        if name.startswith("google."):
            return f"`{name}`"
        short = name[len(package) + 1 :] if name.startswith(package + ".") else name
        return f"{{ref}}`{short} <{anchor(name)}>`"


def label_text(f: descriptor_pb2.FieldDescriptorProto, reference: Reference) -> str:
    entry = reference.messages.get(f.type_name.lstrip("."))
    if entry is not None and entry.proto.options.map_entry:
        return "map"
    if f.label == FDP.LABEL_REPEATED:
        return "repeated"
    if f.proto3_optional:
        return "optional"
    return ""


class Missing(Exception):
    pass


def render(package: Package, reference: Reference) -> str:
    missing: list[str] = []

    def doc(found: dict[tuple[int, ...], str], path: tuple[int, ...], what: str) -> str:
        text = found.get(path, "")
        if not text:
            missing.append(what)
        return text

    out = [
        f"# {package.name}",
        "",
        "<!-- Written by tools/gen_proto_docs.py from proto/ at docs-build time. -->",
        "",
        package.comment,
        "",
        "Files: " + ", ".join(f"`proto/{f.name}`" for f in package.files) + ".",
        "",
    ]
    services, messages, enums = [], [], []
    for file in package.files:
        found = comments(file)
        for s_index, service in enumerate(file.service):
            services += [
                f"### {service.name}",
                "",
                doc(found, (SERVICE, s_index), service.name),
                "",
                "| RPC | Request | Response | |",
                "| --- | --- | --- | --- |",
            ]
            for method in service.method:
                stream = "server stream" if method.server_streaming else "unary"
                if method.client_streaming:
                    stream = "client stream" if not method.server_streaming else "bidi stream"
                request = FDP(type=FDP.TYPE_MESSAGE, type_name=method.input_type)
                response = FDP(type=FDP.TYPE_MESSAGE, type_name=method.output_type)
                services.append(
                    f"| `{method.name}` | {reference.type_text(request, package.name)} "
                    f"| {reference.type_text(response, package.name)} | {stream} |"
                )
            services.append("")
            for m_index, method in enumerate(service.method):
                text = doc(found, (SERVICE, s_index, METHOD, m_index), method.name)
                services += [f"`{service.name}.{method.name}`", f": {one_line(text)}", ""]
        for message in walk_messages(file):
            if message.proto.options.map_entry:
                continue
            short = message.name[len(package.name) + 1 :]
            messages += [
                f"({anchor(message.name)})=",
                f"### {short}",
                "",
                doc(found, message.path, short),
                "",
            ]
            used = sorted(reference.messages[message.name].used_by)
            messages += [
                "Used by: " + (", ".join(f"`{u}`" for u in used) if used else "no RPC") + ".",
                "",
            ]
            if message.proto.field:
                messages += [
                    "| Field | # | Type | Label | Description |",
                    "| --- | --- | --- | --- | --- |",
                ]
            for f_index, f in enumerate(message.proto.field):
                text = doc(found, (*message.path, FIELD, f_index), f"{short}.{f.name}")
                messages.append(
                    f"| `{f.name}` | {f.number} | {reference.type_text(f, package.name)} "
                    f"| {label_text(f, reference)} | {one_line(text)} |"
                )
            messages.append("")
        for full_name, enum, path in walk_enums(file):
            short = full_name[len(package.name) + 1 :]
            enums += [
                f"({anchor(full_name)})=",
                f"### {short}",
                "",
                doc(found, path, short),
                "",
                "| Value | # | Description |",
                "| --- | --- | --- |",
            ]
            for v_index, value in enumerate(enum.value):
                text = doc(found, (*path, VALUE, v_index), f"{short}.{value.name}")
                enums.append(f"| `{value.name}` | {value.number} | {one_line(text)} |")
            enums.append("")
    if missing:
        raise Missing(f"{package.name}: no comment on " + ", ".join(missing))
    out += ["## Services", "", *services, "## Messages", "", *messages, "## Enums", "", *enums]
    return "\n".join(out).rstrip() + "\n"


def packages(reference: Reference) -> list[Package]:
    by_name: dict[str, Package] = collections.OrderedDict()
    for file in sorted(reference.ours, key=lambda f: f.name):
        package = by_name.setdefault(file.package, Package(file.package))
        package.files.append(file)
        package.comment = package.comment or comments(file).get((2,), "")
    return list(by_name.values())


def main(argv: list[str]) -> int:
    out = pathlib.Path(argv[0]) if argv else OUT
    reference = Reference(build_descriptors())
    try:
        pages = {p.name: render(p, reference) for p in packages(reference)}
    except Missing as error:
        print(f"gen_proto_docs: {error}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.md"):
        if stale.stem not in pages:
            stale.unlink()
    for name, text in pages.items():
        target = out / f"{name}.md"
        if not target.exists() or target.read_text() != text:  # unchanged: Sphinx rebuilds less
            target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
