# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Summarise the three JSON logs of tests/device/gpu_roles_check.sh (--check, apply, apply again).

Prints, per pass: failures, changed tasks per role, and the roles' exported results; exits 1 when a pass failed,
when nvidia_driver or nouveau changed anything in any pass, or when the last pass changed anything.
"""
import json
import sys

DRIVER_ROLES = ("nvidia_driver", "nouveau")
SHOW = ("Show what the roles will decide on", "Say what will happen", "Report the verified driver",
        "Check the toolkit version", "Report the driver check", "Say why the role is skipped",
        "Say why nvidia-persistenced was left alone", "Report the results and the reboot contract")


def load(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    start = text.find("{")
    if start < 0:
        return None
    return json.loads(text[start:])


def role_of(task_name):
    name = task_name.split(" : ", 1)[0] if " : " in task_name else ""
    return name.rsplit(".", 1)[-1] or "(play)"


def summarise(path, last):
    problems = []
    data = load(path)
    print("== %s" % path)
    if data is None:
        print("   no JSON output (see the .stderr file next to it)")
        return ["%s: no output" % path]
    for res in data["results"]:
        name = res["task"]
        if res["status"] in ("failed", "unreachable"):
            problems.append("%s: %s %s: %s" % (res["host"], name, res["status"], res.get("msg")))
            print("   FAILED %s: %s" % (name, res.get("msg")))
        if res.get("changed"):
            role = role_of(name)
            print("   changed [%s] %s" % (role, name))
            if role in DRIVER_ROLES:
                problems.append("%s changed '%s'" % (role, name))
            elif last:
                problems.append("third pass changed '%s'" % name)
        if name.endswith(SHOW) and res.get("msg") and res["status"] == "ok":
            msg = res["msg"]
            print("   %s: %s" % (name, json.dumps(msg, indent=2, sort_keys=True) if isinstance(msg, (dict, list))
                                 else msg))
    for host, stats in data.get("stats", {}).items():
        print("   stats %s: %s" % (host, json.dumps(stats, sort_keys=True)))
        if stats.get("failures") or stats.get("unreachable"):
            problems.append("%s: failures=%s unreachable=%s" % (host, stats.get("failures"), stats.get("unreachable")))
    return problems


def main(paths):
    problems = []
    for index, path in enumerate(paths):
        problems += summarise(path, index == len(paths) - 1)
    print("== verdict: %s" % ("PASS" if not problems else "FAIL"))
    for problem in problems:
        print("   - %s" % problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
