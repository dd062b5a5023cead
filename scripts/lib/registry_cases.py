#!/usr/bin/env python3
"""Helpers of scripts/test-windows (no third-party modules).

  registry_cases.py generate DIR       writes generated registry cases into DIR
                                       (NN-registry-*/uninstall.reg + expected.json)
  registry_cases.py check BASE AFTER EXPECTED
                                       BASE/AFTER: `stocktake.exe collect` output on the
                                       empty prefix and after the import; EXPECTED: the
                                       case's expected.json. Passes when AFTER lists
                                       exactly BASE's programs plus the expected ones
                                       (expected compared as a set on the keys shown).
"""
import json
import sys
from pathlib import Path

UNINSTALL = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
HKLM64 = "HKEY_LOCAL_MACHINE\\" + UNINSTALL
HKLM32 = r"HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"
def hku(sid):
    return "HKEY_USERS\\" + sid + r"\Software\Microsoft\Windows\CurrentVersion\Uninstall"


def reg_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def reg_hex(kind, data):
    body = ",".join("%02x" % b for b in data)
    return ("hex(%x):" % kind if kind is not None else "hex:") + body


def utf16z(s):
    return s.encode("utf-16-le") + b"\0\0"


def write_reg(path, keys):
    """keys: list of (key path, [(name, value-text)])"""
    lines = ["Windows Registry Editor Version 5.00", ""]
    for key, values in keys:
        lines.append("[" + key + "]")
        for name, value in values:
            lines.append(reg_string(name) + "=" + value)
        lines.append("")
    text = "\r\n".join(lines) + "\r\n"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))


def write_case(root, name, keys, expected):
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    write_reg(d / "uninstall.reg", keys)
    (d / "expected.json").write_text(json.dumps({"software_inventory": expected}, ensure_ascii=False, indent=2), encoding="utf-8")


def prog(name, version=None, publisher=None):
    v = [("DisplayName", reg_string(name))]
    if version is not None:
        v.append(("DisplayVersion", reg_string(version)))
    if publisher is not None:
        v.append(("Publisher", reg_string(publisher)))
    return v


def item(p, v="", s=""):
    return {"package": p, "version": v, "summary": s}


def generate(root):
    root = Path(root)
    # 1. Thousands of keys in every hive and view; the same program in
    #    several places is listed once.
    keys, expected = [], []
    for i in range(2500):
        keys.append((HKLM64 + "\\Bulk64-%04d" % i, prog("Bulk Program %04d" % i, "1.%d" % i, "Bulk Vendor")))
        expected.append(item("Bulk Program %04d" % i, "1.%d" % i, "Bulk Vendor"))
    for i in range(1500):
        keys.append((HKLM32 + "\\Bulk32-%04d" % i, prog("Bulk x86 Program %04d" % i, "2.%d" % i, "Bulk Vendor")))
        expected.append(item("Bulk x86 Program %04d" % i, "2.%d" % i, "Bulk Vendor"))
    for i in range(1000):
        keys.append((hku("S-1-5-21-4000000001-4000000002-4000000003-1001") + "\\User-%04d" % i,
                     prog("Bulk User Program %04d" % i, "3.%d" % i, "Bulk Vendor")))
        expected.append(item("Bulk User Program %04d" % i, "3.%d" % i, "Bulk Vendor"))
    for where in (HKLM64, HKLM32, hku("S-1-5-21-4000000001-4000000002-4000000003-1001")):
        keys.append((where + "\\SharedEverywhere", prog("Shared Everywhere", "9.9", "Bulk Vendor")))
    expected.append(item("Shared Everywhere", "9.9", "Bulk Vendor"))
    write_case(root, "90-registry-generated-thousands", keys, expected)

    # 2. Non-ASCII names, versions and publishers (UTF-16 .reg), in key
    #    names too; a character outside the BMP (surrogate pair).
    texts = [
        ("Программа учёта", "1.0", "ООО «Ромашка»"),
        ("表計算ソフト", "2024.1", "株式会社サンプル"),
        ("Éditeur de données", "3.2-β", "Société Générale de Logiciels"),
        ("Emoji Notes \U0001F4DD", "4.0", "Ünïcödé GmbH"),
        ("برنامج الحسابات", "5.1", "شركة البرمجيات"),
    ]
    keys, expected = [], []
    for i, (n, v, p) in enumerate(texts):
        where = HKLM64 if i % 2 == 0 else hku("S-1-5-21-4000000001-4000000002-4000000003-1002")
        keys.append((where + "\\" + n, prog(n, v, p)))
        expected.append(item(n, v, p))
    keys.append((HKLM32 + "\\{7F3A-ß}", prog("Straße Navigator", "6.0", "Kartenwerk Zürich")))
    expected.append(item("Straße Navigator", "6.0", "Kartenwerk Zürich"))
    write_case(root, "91-registry-generated-non-ascii", keys, expected)

    # 3. Missing and odd-typed values.
    keys, expected = [], []
    k = HKLM64 + "\\"
    keys.append((k + "NoDisplayName", [("DisplayVersion", reg_string("1.0")), ("Publisher", reg_string("Ghost"))]))
    keys.append((k + "EmptyDisplayName", [("DisplayName", reg_string("")), ("Publisher", reg_string("Ghost"))]))
    keys.append((k + "BinaryDisplayName", [("DisplayName", reg_hex(None, utf16z("Binary Name"))), ("Publisher", reg_string("Odd"))]))
    keys.append((k + "MultiSzDisplayName", [("DisplayName", reg_hex(7, utf16z("Multi Name") + b"\0\0"))]))
    keys.append((k + "DwordDisplayName", [("DisplayName", "dword:00000001")]))
    keys.append((k + "ExpandSzName", [("DisplayName", reg_hex(2, utf16z("Expand Name"))), ("Publisher", reg_hex(2, utf16z("%VENDOR%")))]))
    expected.append(item("Expand Name", "", "%VENDOR%"))
    keys.append((k + "OnlyName", prog("Only A Name")))
    expected.append(item("Only A Name", "", ""))
    keys.append((k + "MajorMinor", prog("Major Minor Tool") + [("VersionMajor", "dword:00000007"), ("VersionMinor", "dword:0000000c")]))
    expected.append(item("Major Minor Tool", "7.12", ""))
    keys.append((k + "MajorOnly", prog("Major Only Tool") + [("VersionMajor", "dword:00000003")]))
    expected.append(item("Major Only Tool", "3.0", ""))
    keys.append((k + "StringMajor", prog("String Major Tool") + [("VersionMajor", reg_string("5")), ("VersionMinor", reg_string("1"))]))
    expected.append(item("String Major Tool", "", ""))
    keys.append((k + "DwordVersion", prog("Dword Version Tool") + [("DisplayVersion", "dword:00000002"), ("VersionMajor", "dword:00000002"),
                                                                   ("VersionMinor", "dword:00000001")]))
    expected.append(item("Dword Version Tool", "2.1", ""))
    keys.append((k + "VersionWins", prog("Version Wins Tool", "8.0.1") + [("VersionMajor", "dword:00000008")]))
    expected.append(item("Version Wins Tool", "8.0.1", ""))
    keys.append((k + "SystemComponentString", prog("String SystemComponent", "1.0") + [("SystemComponent", reg_string("1"))]))
    expected.append(item("String SystemComponent", "1.0", ""))
    keys.append((k + "SystemComponentZero", prog("Zero SystemComponent", "1.0") + [("SystemComponent", "dword:00000000")]))
    expected.append(item("Zero SystemComponent", "1.0", ""))
    keys.append((k + "SystemComponentOne", prog("Hidden SystemComponent", "1.0") + [("SystemComponent", "dword:00000001")]))
    keys.append((k + "WithParent", prog("Child Of Something", "1.0") + [("ParentKeyName", reg_string("OnlyName"))]))
    keys.append((k + "KB1", prog("Update for Something (KB1)", "1") + [("ReleaseType", reg_string("Update"))]))
    keys.append((k + "KB2", prog("Hotfix for Something (KB2)", "1") + [("ReleaseType", reg_string("Hotfix"))]))
    keys.append((k + "KB3", prog("Security Update for Something (KB3)", "1") + [("ReleaseType", reg_string("Security Update"))]))
    keys.append((k + "ServicePack", prog("Service Pack Program", "2") + [("ReleaseType", reg_string("Service Pack"))]))
    expected.append(item("Service Pack Program", "2", ""))
    keys.append((k + "Padded", prog("  Padded Name  ", " 1.5 ", " Padded Inc. ")))
    expected.append(item("Padded Name", "1.5", "Padded Inc."))
    keys.append((k + "Empty", []))
    write_case(root, "92-registry-generated-odd-values", keys, expected)


def load_items(path):
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    items = doc.get("software_inventory")
    if not isinstance(items, list):
        raise SystemExit("%s: no software_inventory array" % path)
    return doc, items


def key3(e):
    return (e.get("package"), e.get("version"), e.get("summary"))


def check(base_path, after_path, expected_path):
    _, base = load_items(base_path)
    doc, after = load_items(after_path)
    _, expected = load_items(expected_path)
    problems = []
    if doc.get("errors"):
        problems.append("errors reported: %s" % json.dumps(doc["errors"], ensure_ascii=False))
    remaining = list(after)
    for e in expected:
        idx = next((i for i, a in enumerate(remaining) if all(a.get(k) == v for k, v in e.items())), None)
        if idx is None:
            problems.append("missing: %s" % json.dumps(e, ensure_ascii=False))
        else:
            remaining.pop(idx)
    base_keys = sorted(key3(b) for b in base)
    extra = sorted(key3(r) for r in remaining)
    if extra != base_keys:
        for x in sorted(set(extra) - set(base_keys)):
            problems.append("unexpected: %s" % json.dumps(dict(zip(("package", "version", "summary"), x)), ensure_ascii=False))
        for x in sorted(set(base_keys) - set(extra)):
            problems.append("lost from the empty prefix: %s" % json.dumps(dict(zip(("package", "version", "summary"), x)), ensure_ascii=False))
        if not problems:
            problems.append("duplicates differ from the empty prefix: %s vs %s" % (extra, base_keys))
    if len(after) != len({key3(a) for a in after}):
        problems.append("an identical (package, version, summary) is listed more than once")
    for p in problems[:20]:
        print("    " + p)
    if len(problems) > 20:
        print("    ... and %d more" % (len(problems) - 20))
    return 0 if not problems else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
        sys.exit(0)
    if len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(check(*sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
