"""The standard library and the preinstalled packages: their entry points to the real
interpreter (code from text, pickles naming any global, raw memory, attribute reads by name,
processes) stay closed in the restricted layer (issue 9). The OS layer's side of the same
attacks: tests/escapes_os/test_packages.py."""

# ruff: noqa: E501  (one hostile case per line, as the corpus reads best)
from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.policy import SourceRejected
from sandbox.policy.guards import DENIED_EVERYWHERE
from tests.sandbox.policy.harness import Stop, ok, stopped_by


@pytest.fixture(autouse=True)
def _in_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """These scripts run in this process: what they write lands in a scratch directory."""
    monkeypatch.chdir(tmp_path)


_DATA_ONLY = (
    "scripts load pickles of plain data only (loading would call or build anything it names)"
)

PICKLE_REDUCE_OS_SYSTEM = "import pickle\npickle.loads(b\"cos\\nsystem\\n(S'id'\\ntR.\")\n"
PICKLE_BUILTINS_EVAL = "import pickle\npickle.loads(b\"cbuiltins\\neval\\n(S'1+1'\\ntR.\")\n"
PICKLE_STACK_GLOBAL = (  # protocol 4: the global's names come from the stack
    "import pickle\n"
    "pickle.loads(b'\\x80\\x04\\x8c\\x05posix\\x94\\x8c\\x06system\\x94\\x93\\x94.')\n"
)
PICKLE_UNPICKLER = (
    "import io, pickle\npickle.Unpickler(io.BytesIO(b\"cposix\\nsystem\\n(S'id'\\ntR.\")).load()\n"
)
PICKLE_LOAD_FILE = (
    "import io, pickle\npickle.load(io.BytesIO(b\"csubprocess\\ncall\\n(S'id'\\ntR.\"))\n"
)
PICKLE_SUBCLASS_FIND_CLASS = (
    "import pickle\nclass U(pickle.Unpickler):\n"
    "    def find_class(self, module, name):\n        return print\n"
)
PICKLE_NUMPY_RECONSTRUCT = "import pickle, numpy as np\npickle.loads(pickle.dumps(np.arange(3)))\n"
NUMPY_LOAD_ALLOW_PICKLE = (
    "import numpy as np\nnp.save('a.npy', np.array([1], dtype=object), allow_pickle=True)\n"
    "np.load('a.npy', allow_pickle=True)\n"
)
NUMPY_CTYPES_ADDRESS = "import numpy as np\nnp.arange(3).ctypes.data\n"
NUMPY_CTYPESLIB = "import numpy as np\nnp.ctypeslib.as_array\n"
NUMPY_AS_STRIDED = "from numpy.lib.stride_tricks import as_strided\n"
NUMPY_LIB_STRIDE_TRICKS = "import numpy as np\nnp.lib.stride_tricks\n"
NUMPY_BIT_GENERATOR_CTYPES = "import numpy as np\nnp.random.default_rng().bit_generator.ctypes\n"
NUMPY_VIEW_AS_OBJECT = "import numpy as np\nnp.zeros(2, dtype=np.int64).view(object)[0]\n"
NUMPY_OBJECT_FROM_BUFFER = "import numpy as np\nnp.frombuffer(b'\\x01' * 16, dtype=object)\n"
NUMPY_TESTING = "import numpy as np\nnp.testing\n"
NUMPY_ARRAY_INTERFACE = (  # an object that hands numpy any address to read
    "import numpy as np\nclass Evil:\n"
    "    __array_interface__ = {'shape': (8,), 'typestr': '|u1', 'data': (4096, False), "
    "'version': 3}\n"
    "np.asarray(Evil())\n"
)
PANDAS_EVAL = "import pandas as pd\npd.eval('1 + 1')\n"
PANDAS_QUERY = "import pandas as pd\npd.DataFrame({'a': [1]}).query('a.__class__')\n"
PANDAS_DF_EVAL = "import pandas as pd\npd.DataFrame({'a': [1]}).eval('a + 1')\n"
PANDAS_STYLE = "import pandas as pd\npd.DataFrame({'a': [1]}).style\n"
PANDAS_READ_PICKLE = "import pandas as pd\npd.read_pickle('x.pkl')\n"
PANDAS_COMPUTATION = "import pandas.core.computation.eval\n"
PANDAS_CORE_COMPUTATION_ATTRIBUTE = "import pandas.core as core\ncore.computation\n"
YAML_UNSAFE_LOADER = (
    "import yaml\nyaml.load(\"!!python/object/apply:os.system ['id']\", Loader=yaml.UnsafeLoader)\n"
)
YAML_DEFAULT_IS_SAFE = "import yaml\nyaml.load(\"!!python/object/apply:os.system ['id']\")\n"
YAML_OWN_LOADER = "import yaml\nclass L(yaml.SafeLoader):\n    pass\nyaml.load('a: 1', Loader=L)\n"
YAML_UNSAFE_LOAD = "import yaml\nyaml.unsafe_load('a: 1')\n"
PIL_UNSAFE_EVAL = "from PIL import ImageMath\nImageMath.unsafe_eval('1')\n"
PIL_SHOW = "from PIL import Image\nImage.new('RGB', (1, 1)).show()\n"
FAKER_FORMAT_DUNDER = "import faker\nfaker.Faker().format('__class__')\n"
FAKER_GET_FORMATTER = "import faker\nfaker.Faker().get_formatter('__init__')\n"
SCIPY_LOW_LEVEL_CALLABLE = "import scipy\nscipy.LowLevelCallable\n"
MATPLOTLIB_USE = "import matplotlib\nmatplotlib.use('module://antigravity')\n"
PYPLOT_SWITCH_BACKEND = "import matplotlib.pyplot as plt\nplt.switch_backend('module://this')\n"
OPERATOR_ATTRGETTER = "import operator\noperator.attrgetter('__class__.__subclasses__')(1)\n"
OPERATOR_METHODCALLER = "import operator\noperator.methodcaller('__subclasses__')(int)\n"
TRACEBACK_WALK_STACK = "import traceback\nframes = list(traceback.walk_stack(None))\n"
THREADING_ENUMERATE = "import threading\nthreading.enumerate()\n"
THREADING_SETTRACE = "import threading\nthreading.settrace(print)\n"
SQLITE_LOAD_EXTENSION = "import sqlite3\nsqlite3.connect(':memory:').enable_load_extension(True)\n"
OS_SYSTEM = "import os\nos.system('id')\n"
OS_FDOPEN_CHANNEL = "import os\nos.fdopen(3, 'wb')\n"
OS_ENVIRON_WRITE = "import os\nos.environ['PATH'] = '/tmp'\n"
SYS_MODULES = "import sys\nsys.modules\n"
TYPES_NEW_CLASS = "import types\ntypes.new_class('X', (), {})\n"
LOGGING_BRACE_STYLE = "import logging\nlogging.Formatter('{msg.__class__}', style='{')\n"
LOGGING_BASIC_BRACE = "import logging\nlogging.basicConfig(format='{msg}', style='{')\n"
SAX_PARSER_LIST = "import xml.sax\nxml.sax.make_parser(['antigravity'])\n"
RICH_INSPECT = "import rich\nrich.inspect(poe)\n"
PYDANTIC_TYPE_ADAPTER = "import pydantic\npydantic.TypeAdapter('int')\n"
CONCURRENT_PROCESS_POOL = "import concurrent.futures as f\nf.ProcessPoolExecutor()\n"
ASYNCIO_SUBPROCESS = "import asyncio\nasyncio.create_subprocess_exec\n"
CODECS_REGISTER = "import codecs\ncodecs.register(print)\n"


def _absent(module: str, name: str) -> Stop:
    return Stop(
        "modules",
        AttributeError,
        f"module {module!r} has no attribute {name!r} available to scripts",
    )


def _refused_attribute(kind: str, name: str, reason: str) -> Stop:
    return Stop("guards", AttributeError, f"{kind}.{name} is not available to scripts: {reason}")


_FORMATTER = "reads (or sets) any attribute by name, private ones too, past the guards"
_BRACE = (
    "logging style '{' is not available to scripts: str.format over log records walks "
    "attributes past the guards; use '%' or '$'"
)


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (PICKLE_REDUCE_OS_SYSTEM, Stop("checked", Exception, f"pickle data names os.system: {_DATA_ONLY}")),
        (PICKLE_BUILTINS_EVAL, Stop("checked", Exception, f"pickle data names builtins.eval: {_DATA_ONLY}")),
        (PICKLE_STACK_GLOBAL, Stop("checked", Exception, f"pickle data names posix.system: {_DATA_ONLY}")),
        (PICKLE_UNPICKLER, Stop("checked", Exception, f"pickle data names posix.system: {_DATA_ONLY}")),
        (PICKLE_LOAD_FILE, Stop("checked", Exception, f"pickle data names subprocess.call: {_DATA_ONLY}")),
        (PICKLE_SUBCLASS_FIND_CLASS, Stop("guards", TypeError, "class U: base <function pickle_unpickler")),
        (PICKLE_NUMPY_RECONSTRUCT, Stop("checked", Exception, "pickle data names numpy")),
        (NUMPY_LOAD_ALLOW_PICKLE, Stop("checked", TypeError, "numpy.load(allow_pickle=True) is not available to scripts")),
        (NUMPY_CTYPES_ADDRESS, _refused_attribute("ndarray", "ctypes", "the array's raw address and ctypes views of it")),
        (NUMPY_CTYPESLIB, _absent("numpy", "ctypeslib")),
        (NUMPY_AS_STRIDED, Stop("modules", ImportError, "import of 'numpy.lib.stride_tricks' is not allowed in scripts")),
        (NUMPY_LIB_STRIDE_TRICKS, _absent("numpy.lib", "stride_tricks")),
        (NUMPY_BIT_GENERATOR_CTYPES, _refused_attribute("PCG64", "ctypes", "raw pointers into the generator's state")),
        (NUMPY_VIEW_AS_OBJECT, Stop("library:_internal.py", TypeError, "Cannot change data-type for array of references")),
        (NUMPY_OBJECT_FROM_BUFFER, Stop("script", ValueError, "cannot create an OBJECT array from memory buffer")),
        (NUMPY_TESTING, _absent("numpy", "testing")),
        (NUMPY_ARRAY_INTERFACE, Stop("compiler", SourceRejected, "")),
        (PANDAS_EVAL, _absent("pandas", "eval")),
        (PANDAS_QUERY, _refused_attribute("DataFrame", "query", "as eval")),
        (PANDAS_DF_EVAL, _refused_attribute("DataFrame", "eval", "evaluates expression text whose attribute reads pass no guard")),
        (PANDAS_STYLE, _refused_attribute("DataFrame", "style", "Styler formats with str.format past the guards and renders with Jinja")),
        (PANDAS_READ_PICKLE, _absent("pandas", "read_pickle")),
        (PANDAS_COMPUTATION, Stop("modules", ImportError, "import of 'pandas.core.computation.eval' is not allowed in scripts")),
        (PANDAS_CORE_COMPUTATION_ATTRIBUTE, _absent("pandas.core", "computation")),
        (YAML_UNSAFE_LOADER, _absent("yaml", "UnsafeLoader")),
        (YAML_DEFAULT_IS_SAFE, Stop("library:constructor.py", Exception, "could not determine a constructor")),
        (YAML_OWN_LOADER, Stop("checked", TypeError, "yaml: only SafeLoader and BaseLoader are available to scripts")),
        (YAML_UNSAFE_LOAD, _absent("yaml", "unsafe_load")),
        (PIL_UNSAFE_EVAL, _absent("PIL.ImageMath", "unsafe_eval")),
        (PIL_SHOW, _refused_attribute("Image", "show", "runs an image viewer: processes")),
        (FAKER_FORMAT_DUNDER, _refused_attribute("Faker", "format", "as faker.generator.Generator")),
        (FAKER_GET_FORMATTER, _refused_attribute("Faker", "get_formatter", "as faker.generator.Generator")),
        (SCIPY_LOW_LEVEL_CALLABLE, _absent("scipy", "LowLevelCallable")),
        (MATPLOTLIB_USE, _absent("matplotlib", "use")),
        (PYPLOT_SWITCH_BACKEND, _absent("matplotlib.pyplot", "switch_backend")),
        (OPERATOR_ATTRGETTER, Stop("guards", AttributeError, "int.__subclasses__ is not "
            f"available to scripts: {DENIED_EVERYWHERE['__subclasses__']}")),
        (OPERATOR_METHODCALLER, Stop("guards", AttributeError, "int.__subclasses__ is not "
            f"available to scripts: {DENIED_EVERYWHERE['__subclasses__']}")),
        (TRACEBACK_WALK_STACK, _absent("traceback", "walk_stack")),
        (THREADING_ENUMERATE, _absent("threading", "enumerate")),
        (THREADING_SETTRACE, _absent("threading", "settrace")),
        (SQLITE_LOAD_EXTENSION, _refused_attribute("Connection", "enable_load_extension", "loads native code into the process")),
        (OS_SYSTEM, _absent("os", "system")),
        (OS_FDOPEN_CHANNEL, _absent("os", "fdopen")),
        (OS_ENVIRON_WRITE, Stop("guards", TypeError, "cannot set items of a _Environ object: it is shared, not the script's")),
        (SYS_MODULES, _absent("sys", "modules")),
        (TYPES_NEW_CLASS, _absent("types", "new_class")),
        (LOGGING_BRACE_STYLE, Stop("checked", ValueError, _BRACE)),
        (LOGGING_BASIC_BRACE, Stop("checked", ValueError, _BRACE)),
        (SAX_PARSER_LIST, Stop("checked", TypeError, "xml.sax.make_parser(parser_list) is not available to scripts")),
        (RICH_INSPECT, _absent("rich", "inspect")),
        (PYDANTIC_TYPE_ADAPTER, _absent("pydantic", "TypeAdapter")),
        (CONCURRENT_PROCESS_POOL, _absent("concurrent.futures", "ProcessPoolExecutor")),
        (ASYNCIO_SUBPROCESS, _absent("asyncio", "create_subprocess_exec")),
        (CODECS_REGISTER, _absent("codecs", "register")),
    ],
)  # fmt: skip
def test_library_entry_points_to_the_interpreter_are_closed(source: str, stop: Stop) -> None:
    got = stopped_by(source)
    assert got.layer == stop.layer, got
    assert stop.error is not None and got.error is not None and issubclass(got.error, stop.error)
    assert got.message.startswith(stop.message), got


def test_the_same_libraries_work_for_ordinary_use() -> None:
    outcome = ok(
        "import pickle, io, yaml, logging, xml.sax, sqlite3, numpy as np, pandas as pd\n"
        "data = pickle.loads(pickle.dumps({'a': [1, 2.5, {3}], 'b': (None, b'x')}))\n"
        "conf = yaml.load('a: [1, 2]')\n"
        "logging.Formatter('%(message)s')\n"
        "df = pd.DataFrame({'a': [1, 2, 3]})\n"
        "df['b'] = df['a'] * 2\n"
        "df.loc[0, 'a'] = 10\n"
        "a = np.zeros(3)\na[1] = 5\n"
        "db = sqlite3.connect(':memory:')\ndb.row_factory = sqlite3.Row\n"
        "result = (data, conf, df['b'].tolist(), int(df['a'].sum()), a.tolist(), "
        "db.execute('select 1 as x').fetchone()['x'])\n"
    )
    assert outcome.globals["result"] == (
        {"a": [1, 2.5, {3}], "b": (None, b"x")},
        {"a": [1, 2]},
        [2, 4, 6],
        15,
        [0.0, 5.0, 0.0],
        1,
    )
