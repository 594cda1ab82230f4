"""Changing objects the script shares with the runtime: poe, modules, library classes."""

from __future__ import annotations

import pytest

from tests.sandbox.policy.harness import Stop, stopped_by

POE_ATTRIBUTE = "poe.call = lambda *a: 'forged'\n"
POE_SETATTR = "setattr(poe, 'call', None)\n"
POE_DELATTR = "delattr(poe, 'call')\n"
POE_PRIVATE_SETATTR = "setattr(poe, '_rt', None)\n"
MODULE_ATTRIBUTE = "import json\njson.dumps = lambda *a: 'forged'\n"
MODULE_DEL = "import json\ndel json.loads\n"
MODULE_ITEM = "import json\njson['dumps'] = 1\n"
FP_CLASS_ATTRIBUTE = "import fastapi_poe as fp\nfp.PartialResponse.x = 1\n"
FP_MODULE_ATTRIBUTE = "import fastapi_poe as fp\nfp.PartialResponse = None\n"
BUILTIN_CLASS_ATTRIBUTE = "str.upper = lambda s: s\n"
BUILTIN_CLASS_SETATTR = "setattr(int, 'x', 1)\n"
AUGMENTED_ON_SHARED = "poe.bot_name += '!'\n"
FP_INSTANCE = "import fastapi_poe as fp\np = fp.PartialResponse(text='x')\np.text = 'y'\n"
TYPE_OF_POE = "type(poe).call = None\n"


@pytest.mark.parametrize(
    ("source", "stop"),
    [
        (POE_ATTRIBUTE, Stop("guards", AttributeError,
            "cannot set 'call' on a StandInPoe object: scripts change only their own objects")),
        (POE_SETATTR, Stop("guards", AttributeError,
            "cannot set 'call' on a StandInPoe object: scripts change only their own objects")),
        (POE_DELATTR, Stop("guards", AttributeError, "cannot delete 'call' of a StandInPoe "
            "object: scripts change only their own objects")),
        (POE_PRIVATE_SETATTR, Stop("guards", AttributeError,
            "cannot set '_rt' on a StandInPoe object: scripts change only their "
            'own objects')),
        (MODULE_ATTRIBUTE, Stop("guards", AttributeError,
            "cannot set 'dumps' on a module object: scripts change only their own objects")),
        (MODULE_DEL, Stop("guards", AttributeError,
            "cannot delete 'loads' of a module object: scripts change only their own objects")),
        (MODULE_ITEM, Stop("guards", TypeError,
            "cannot set items of a module object: it is shared, not the script's")),
        (FP_CLASS_ATTRIBUTE, Stop("guards", AttributeError, "cannot set 'x' on class "
            "PartialResponse: scripts change only their own objects")),
        (FP_MODULE_ATTRIBUTE, Stop("guards", AttributeError, "cannot set 'PartialResponse' on "
            "a module object: scripts change only their own objects")),
        (BUILTIN_CLASS_ATTRIBUTE, Stop("guards", AttributeError,
            "cannot set 'upper' on class str: scripts change only their own objects")),
        (BUILTIN_CLASS_SETATTR, Stop("guards", AttributeError,
            "cannot set 'x' on class int: scripts change only their own objects")),
        (AUGMENTED_ON_SHARED, Stop("guards", AttributeError, "cannot set 'bot_name' on a "
            "StandInPoe object: scripts change only their own objects")),
        (FP_INSTANCE, Stop("guards", AttributeError, "cannot set 'text' on a PartialResponse "
            "object: scripts change only their own objects")),
        (TYPE_OF_POE, Stop("guards", AttributeError,
            "cannot set 'call' on class StandInPoe: scripts change only their own objects")),
    ],
)  # fmt: skip
def test_shared_objects_cannot_be_changed(source: str, stop: Stop) -> None:
    assert stopped_by(source) == stop
