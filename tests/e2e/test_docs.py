"""The manual pages and the bash completion keep up with the programs: every command of
`evidockctl --help` has its section in evidockctl(1), every configuration key (what
`evidockd -n` prints, what config/evidock.conf lists, what lib/conf.c accepts) its entry
in evidock.conf(5); the pages pass mandoc's lint; `make install` puts them and the
completion in place; the completion offers commands, options and item ids."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, EVIDOCKCTL, EVIDOCKD, REPO
from helpers import random_file

CTL_PAGE = os.path.join(REPO, "daemon/evidockctl.1")
DAEMON_PAGE = os.path.join(REPO, "daemon/evidockd.8")
CONF_PAGE = os.path.join(REPO, "config/evidock.conf.5")
OTHER_PAGES = [os.path.join(REPO, "daemon", p) for p in ("evidock-console.8",
                                                         "evidock-replicate.8",
                                                         "evidock-probe.8",
                                                         "evidock-seal.8")]
COMPLETION = os.path.join(REPO, "daemon/evidockctl.bash-completion")


def help_commands():
    """("recorder add", ...) from the client's own usage."""
    out = subprocess.run([EVIDOCKCTL, "--help"], capture_output=True, check=True).stdout.decode()
    commands = []
    for line in out.splitlines():
        words = line.split()
        if line.startswith("  evidockctl ") and len(words) >= 2:
            name = words[1]
            if len(words) > 2 and re.fullmatch(r"[a-z][a-z-]*", words[2]):
                name += " " + words[2]
            commands.append(name)
    return commands


def page_sections(path, macro):
    with open(path, encoding="utf-8") as f:
        return [line[len(macro) + 1:].strip() for line in f if line.startswith(macro + " ")]


def conf_page_keys():
    """{section: {key}} from the .Ss [section] / .It Cm key structure of evidock.conf(5)."""
    keys, section = {}, None
    with open(CONF_PAGE, encoding="utf-8") as f:
        for line in f:
            if line.startswith(".Sh "):
                section = None
            m = re.match(r"\.Ss \[(\w+)\]", line)
            if m:
                section = m.group(1)
                keys[section] = set()
            m = re.match(r"\.It Cm (\w+)", line)
            if m and section:
                keys[section].add(m.group(1))
    return keys


def ini_keys(text, commented=False):
    """{(section, key)} of an INI text; commented: also "# key = value" lines."""
    found, section = set(), None
    for line in text.splitlines():
        m = re.match(r"(?:#\s*)?\[(\w+)\]" if commented else r"\[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"(#\s*)?(\w+)\s*=", line)
        if section and m and (commented or not m.group(1)):
            found.add((section, m.group(2)))
    return found


def source_keys():
    """{(section, key)} that lib/conf.c accepts: each section's handler and its keys."""
    with open(os.path.join(REPO, "lib/conf.c"), encoding="utf-8") as f:
        src = f.read()
    handlers = dict(re.findall(r'\{\s*"(\w+)",\s*(on_\w+)\s*\}', src))
    found = set()
    for section, fn in handlers.items():
        body = re.search(r"static int " + fn + r"\(.*?\n\}\n", src, re.S).group(0)
        for key in re.findall(r'(?:KEY\(|strcmp\(name, )"(\w+)"', body):
            found.add((section, key))
    assert len(handlers) >= 9 and len(found) > 30, (handlers, found)
    return found


def test_every_command_has_its_section():
    commands = help_commands()
    assert "status" in commands and "recorder add" in commands and "report" in commands
    sections = page_sections(CTL_PAGE, ".Ss")
    missing = [c for c in commands if c not in sections]
    assert missing == [], f"evidockctl(1) has no section for {missing}"
    stale = [s for s in sections if s not in commands]
    assert stale == [], f"evidockctl(1) describes commands the client does not have: {stale}"


def test_every_key_has_its_entry(tmp):
    conf = os.path.join(tmp, "min.conf")
    with open(conf, "w") as f:
        f.write(f"[station]\nstate_dir = {tmp}/state\n")
    printed = subprocess.run([EVIDOCKD, "-n", "-c", conf], capture_output=True,
                             check=True).stdout.decode()
    with open(os.path.join(REPO, "config/evidock.conf"), encoding="utf-8") as f:
        shipped = f.read()
    wanted = ini_keys(printed) | ini_keys(shipped, commented=True) | source_keys()
    assert ("usb", "clock_tolerance") in wanted and ("signing", "key") in wanted
    page = conf_page_keys()
    missing = sorted((s, k) for s, k in wanted if k not in page.get(s, ()))
    assert missing == [], f"evidock.conf(5) has no entry for {missing}"


def test_default_extensions_on_the_page(tmp):
    """The page's default [ingest] extensions are the ones the daemon takes without any."""
    conf = os.path.join(tmp, "min.conf")
    with open(conf, "w") as f:
        f.write(f"[station]\nstate_dir = {tmp}/state\n")
    printed = subprocess.run([EVIDOCKD, "-n", "-c", conf], capture_output=True,
                             check=True).stdout.decode()
    default = re.search(r"^extensions =(.*)$", printed, re.M).group(1).split()
    assert "m4a" in default and "heic" in default
    with open(CONF_PAGE, encoding="utf-8") as f:
        page = f.read()
    entry = re.search(r"\.It Cm extensions\n(?:.*\n)*?Default\n\.Li (.*) \.\n", page).group(1)
    assert entry.split() == default


@pytest.mark.skipif(not shutil.which("mandoc"), reason="mandoc is not installed")
def test_pages_pass_mandoc_lint():
    p = subprocess.run(["mandoc", "-Tlint", "-Wwarning", CTL_PAGE, DAEMON_PAGE, CONF_PAGE]
                       + OTHER_PAGES,
                       capture_output=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_make_install_puts_pages_and_completion(tmp):
    dest = os.path.join(tmp, "dest")
    # -o all: install what the suite runs on, never rebuild it underneath the other tests
    # (a sanitizer build would be relinked without its flags).
    subprocess.run(["make", "-s", "-o", "all", "-C", REPO, "install", f"DESTDIR={dest}",
                    "PREFIX=/usr", f"BUILD={BUILD}"], capture_output=True, check=True)
    for path in ("usr/share/man/man1/evidockctl.1", "usr/share/man/man8/evidockd.8",
                 "usr/share/man/man8/evidock-console.8", "usr/share/man/man8/evidock-replicate.8",
                 "usr/share/man/man8/evidock-probe.8", "usr/share/man/man8/evidock-seal.8",
                 "usr/share/man/man5/evidock.conf.5",
                 "usr/share/bash-completion/completions/evidockctl"):
        assert os.path.isfile(os.path.join(dest, path)), path
    if shutil.which("man"):
        p = subprocess.run(["man", "-l", os.path.join(dest, "usr/share/man/man1/evidockctl.1")],
                           capture_output=True, env=dict(os.environ, MANPAGER="cat",
                                                         PAGER="cat"))
        assert b"report" in p.stdout


def complete(*words, socket=None):
    """COMPREPLY for the command line `evidockctl WORDS...` (the last one being typed)."""
    line = [EVIDOCKCTL] + (["--socket", socket] if socket else []) + list(words)
    script = (f"source {COMPLETION}\n"
              "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMP_LINE=\"$*\"\n"
              "_evidockctl\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    p = subprocess.run(["bash", "-c", script, "bash"] + line, capture_output=True, check=True)
    return [w for w in p.stdout.decode().splitlines() if w]


def test_completion_commands_and_options():
    assert sorted(complete("re")) == ["recorder", "release", "remote", "replication", "report",
                                      "restore"]
    words = {c.split()[0] for c in help_commands()}
    assert set(complete("")) == words  # every command of --help, and no other
    subs = sorted(c.split()[1] for c in help_commands() if c.startswith("recorder "))
    assert "add" in subs and sorted(complete("recorder", "")) == subs
    assert complete("audit", "--fo") == ["--follow"] and complete("audit", "ch") == ["checkpoints"]
    assert "--handler-name" in complete("recorder", "add", "X", "--handler-")
    assert complete("report", "--ye") == ["--year"]
    assert sorted(complete("report", "--format", "")) == ["csv", "html", "json", "table"]
    assert sorted(complete("export", "1", "--media", "b")) == ["bd25", "bd50"]
    assert sorted(complete("user", "add", "x", "--role", "")) == ["admin", "archivist", "clerk"]
    assert complete("--so") == ["--socket"]
    assert sorted(complete("trip", "add", "--kind", "")) == ["away", "continuous", "remote"]
    assert "timeline" in complete("case", "")


def test_completion_offers_item_ids(station, tmp):
    src = os.path.join(tmp, "src")
    for i in range(3):
        random_file(os.path.join(src, f"CLIP{i}.MP4"), 1000 + i, i)
    station.ctl("import", src, "--recorder", "R1", "--allow-unregistered", check=True)
    ids = sorted(str(it["id"]) for it in station.json("items"))
    assert sorted(complete("show", "", socket=station.sock)) == ids
    assert sorted(complete("hold", ids[0], "", socket=station.sock)) == ids
    assert complete("recorder", "list", "--j", socket=station.sock) == ["--json"]
    # No daemon there: no ids, no error.
    assert complete("show", "", socket=os.path.join(tmp, "none.sock")) == []
