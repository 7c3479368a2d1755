#!/usr/bin/env python3
"""Prints why tests were skipped, after a CTest run (called by scripts/test.sh).

usage: skip_reasons.py BUILD_DIR CTEST_CONSOLE_LOG

CTest shows "***Skipped" but never the reason, and a test that passed may still have skipped
parts (a pytest file with skipped cases, a GoogleTest case needing a GPU). The reasons are in each
test's output, which CTest keeps in BUILD_DIR/Testing/Temporary/LastTest.log:
  GoogleTest  "<file>:<line>: Skipped" followed by the GTEST_SKIP() message
  pytest      "SKIPPED [n] <file>:<line>: <reason>" (pytest -rs; test.sh sets PYTEST_ADDOPTS)
  scripts     a line starting "skipped:" before exit 77 (SKIP_RETURN_CODE)
Reasons are grouped, so 40 CUDA cases skipped for want of a GPU make one line.
"""
import collections
import re
import sys


def test_outputs(last_test_log):
    """{test name: its output} from CTest's LastTest.log."""
    out, name, lines, inside = {}, None, [], False
    with open(last_test_log, errors="replace") as f:
        for line in f:
            m = re.match(r"\d+/\d+ Test: (.+)$", line.rstrip("\n"))
            if m:
                name = m.group(1)
            elif line.startswith("<end of output>"):
                out[name] = "".join(lines)
                inside, lines = False, []
            elif inside:
                lines.append(line)
            elif line.startswith("Output:"):
                inside, lines = True, []
                next(f, None)  # the dashed line under "Output:"
    return out


def reasons_in(output):
    """Skip reasons found in one test's output, each with how many cases it covers."""
    found = collections.Counter()
    lines = re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines()  # GoogleTest colours its tags
    for i, line in enumerate(lines):
        if re.search(r":\d+: Skipped$", line):  # GoogleTest: the message follows until [  SKIPPED ]
            msg = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("["):  # [  SKIPPED ], or the next test's [ RUN      ]
                    break
                if nxt.strip():
                    msg.append(nxt.strip())
            found[" ".join(msg) or "(no reason given)"] += 1
        m = re.match(r"SKIPPED \[(\d+)\] [^:]+:\d+: (.*)$", line)
        if m:
            found[m.group(2).strip()] += int(m.group(1))
        m = re.match(r"(?i)skip(?:ped)?: (.*)$", line)
        if m:
            found[m.group(1).strip()] += 1
    return found


def main():
    build, console = sys.argv[1], sys.argv[2]
    with open(console, errors="replace") as f:
        skipped = set(re.findall(r"Test +#\d+: (\S+) \.+\*+Skipped", f.read()))
    try:
        outputs = test_outputs(f"{build}/Testing/Temporary/LastTest.log")
    except OSError as e:
        print(f"skip reasons: cannot read CTest's log ({e})")
        return
    by_reason = collections.defaultdict(list)  # reason -> [(test, cases)]
    for test, output in outputs.items():
        for reason, n in reasons_in(output).items():
            by_reason[reason].append((test, n))
        if test in skipped and not reasons_in(output):
            by_reason["(the test printed no reason)"].append((test, 1))
    if not by_reason:
        return
    print("Skipped, with the reasons the tests gave:")
    for reason, tests in sorted(by_reason.items(), key=lambda kv: -sum(n for _, n in kv[1])):
        cases = sum(n for _, n in tests)
        names = [t for t, _ in tests]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        print(f"  {cases} case{'s' if cases != 1 else ''} ({shown}): {reason}")


if __name__ == "__main__":
    main()
