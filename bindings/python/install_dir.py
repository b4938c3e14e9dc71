# SPDX-License-Identifier: MIT
"""Print the package directory to install into, relative to the prefix given
as argv[1], when Meson's own choice would not be on this interpreter's
sys.path; print nothing to keep Meson's choice.

Debian patches sysconfig: Meson (1.0) then installs under
<prefix>/lib/python3/dist-packages, which the interpreter only searches for
prefix /usr.  For prefix /usr/local the interpreter searches
/usr/local/lib/python3.X/dist-packages instead.
"""

import os
import sys
import sysconfig


def main() -> None:
    prefix = os.path.normpath(sys.argv[1])
    if "deb_system" not in sysconfig.get_scheme_names():
        return
    meson_dir = os.path.join(prefix, "lib", "python3", "dist-packages")
    if meson_dir in sys.path:
        return
    rel = os.path.join("lib", "python%d.%d" % sys.version_info[:2], "dist-packages")
    if os.path.join(prefix, rel) in sys.path:
        print(rel)


main()
