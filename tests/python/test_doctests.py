# SPDX-License-Identifier: MIT
"""The examples of the module's docs run (issue 18, item 6).

Every docstring example of the package (the module, its public classes,
their methods and properties, and the public functions, wherever they are
defined) is a doctest, run here one test per docstring; the docstrings
that must have examples are listed below, so that an example that
disappears fails too.
"""

import doctest
import enum
import inspect
import os
import re
import subprocess
import sys

import pytest

import kevent

# Docstrings that must carry examples (the asyncio integration included).
EXPECTED = {
    "kevent",
    "kevent.Queue",
    "kevent.Queue.get",
    "kevent.KeventSelector",
    "kevent.run",
    "kevent.watch_path",
    "kevent.wait_pid",
    "kevent.Trigger",
}


def _documented():
    """(name, object) of the module, every public class and function, and
    the methods and properties the package's classes define."""
    yield "kevent", kevent
    for name in kevent.__all__:
        obj = getattr(kevent, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        yield f"kevent.{name}", obj
        if inspect.isclass(obj) and not issubclass(obj, enum.Enum):
            for attr, member in vars(obj).items():
                if isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member):
                    yield f"kevent.{name}.{attr}", member


def _doctests():
    parser = doctest.DocTestParser()
    tests = []
    for name, obj in _documented():
        doc = obj.__doc__
        if not doc:
            continue
        try:
            filename = inspect.getsourcefile(obj)
        except TypeError:
            filename = None
        test = parser.get_doctest(doc, {}, name, filename, 0)
        if test.examples:
            tests.append(test)
    return tests


DOCTESTS = _doctests()


def test_every_expected_docstring_has_examples():
    assert {t.name for t in DOCTESTS} >= EXPECTED


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples(test):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out = []
    result = runner.run(test, out=out.append)
    assert result.attempted > 0
    assert result.failed == 0, "".join(out)


def test_plain_testmod_passes():
    # what the issue ran: doctest.testmod(kevent)
    result = doctest.testmod(kevent)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------- man 3 python-kevent

MAN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "man", "python-kevent.3.scd")


def _man_examples():
    """The literal blocks of the EXAMPLES section, scdoc escapes undone."""
    blocks, block, section = [], None, None
    with open(MAN) as f:
        for line in f:
            if line.startswith("# "):
                section = line[2:].strip()
                continue
            if line.startswith("```"):
                if block is None:
                    block = []
                else:
                    if section == "EXAMPLES":
                        blocks.append(re.sub(r"\\(.)", r"\1", "".join(block)))
                    block = None
                continue
            if block is not None:
                block.append(line)
    return blocks


MAN_EXAMPLES = _man_examples()


def test_the_man_page_has_python_examples():
    assert len(MAN_EXAMPLES) >= 3


@pytest.mark.parametrize("code", MAN_EXAMPLES,
                         ids=[f"example{i + 1}" for i in range(len(MAN_EXAMPLES))])
def test_man_page_example_runs(code, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(code)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(kevent.__file__)))
    env = dict(os.environ, PYTHONPATH=pkg_parent)
    res = subprocess.run([sys.executable, str(script)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip(), "the example printed nothing"
