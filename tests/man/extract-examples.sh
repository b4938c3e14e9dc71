#!/bin/sh
# extract-examples.sh SRCDIR OUTDIR
#
# Write every complete program of the EXAMPLES sections of SRCDIR/man/*.scd
# to OUTDIR/<page>-<k>.c, or .cpp for a C++ program (one that includes
# <kevent.hpp>); page = the .scd name without .scd, k = 1, 2, ...
# A literal block (```) of an EXAMPLES section is a program when it contains
# "main(".  scdoc escapes (\X) are undone, so the file is the exact text
# that the rendered page shows.  Prints the names of the files written.
set -eu
src=$1
out=$2
mkdir -p "$out"
for scd in "$src"/man/*.scd; do
	page=$(basename "$scd" .scd)
	awk -v out="$out" -v page="$page" '
	function flush(   f) {
		if (block ~ /main\(/) {
			k++
			f = out "/" page "-" k (block ~ /#include <kevent\.hpp>/ ? ".cpp" : ".c")
			printf "%s", block > f
			close(f)
			print f
		}
		block = ""
	}
	/^# / { section = substr($0, 3); next }
	/^```/ {
		if (section != "EXAMPLES")
			next
		if (inblock) { flush(); inblock = 0 } else { inblock = 1; block = "" }
		next
	}
	inblock {
		line = $0; text = ""
		# undo scdoc escapes: \X -> X
		while ((i = index(line, "\\")) > 0) {
			text = text substr(line, 1, i - 1) substr(line, i + 1, 1)
			line = substr(line, i + 2)
		}
		block = block text line "\n"
	}
	' "$scd"
done
