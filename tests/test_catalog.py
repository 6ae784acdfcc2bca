"""The model catalog: the shipped file, and errors that name the file, the model and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.domain import GenerationRequest, ImageTransport, Orientation, WireFormat
from bot.errors import ConfigError
from bot.gateway.formats import openai

SOURCE = "/etc/reelbot/custom-models.toml"

GOOD_MODEL = """
[[models]]
name = "{name}"
label = "A model"
format = "openai"
sizes = {{ landscape = "1280x720", portrait = "720x1280" }}
durations = [4, 8]
default_duration = 4
max_images = 1
image_transport = "data_uri"
hd_orientations = []
credits_per_second = 2.0
"""


def model_toml(name: str = "good-model", **replace: str) -> str:
    """One [[models]] table; ``replace`` swaps whole ``key = value`` lines (an empty value drops the line)."""
    lines = GOOD_MODEL.format(name=name).strip().splitlines()
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip()
        if key in replace:
            if replace[key]:
                out.append(f"{key} = {replace.pop(key)}")
            else:
                replace.pop(key)
            continue
        out.append(line)
    out.extend(f"{key} = {value}" for key, value in replace.items())
    return "\n".join(out) + "\n"


def parse_error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Catalog.parse(text, SOURCE)
    return str(caught.value)


def test_shipped_catalog_loads() -> None:
    catalog = Catalog.load()
    names = [m.name for m in catalog]
    assert names == [
        "veo-3.1-fast-generate-preview",
        "veo-3.1-generate-preview",
        "veo3.1-fast",
        "veo3.1-fast-components",
        "kling-v2-1",
        "doubao-seedance-1-0-pro-250528",
        "wan2.5-i2v-preview",
        "sora-2",
        "sora-2-pro",
    ]
    assert len(catalog) == len(names)
    assert "sora-2" in catalog
    assert "no-such-model" not in catalog
    assert catalog.get("no-such-model") is None
    assert "built-in" in catalog.source


def test_shipped_default_is_the_first_model() -> None:
    catalog = Catalog.load()
    assert catalog.default is next(iter(catalog))
    assert catalog.default.name == "veo-3.1-fast-generate-preview"


def test_shipped_sora_2() -> None:
    sora = Catalog.load().get("sora-2")
    assert sora is not None
    assert sora.wire_format is WireFormat.OPENAI
    assert sora.durations == (4, 8, 12)
    assert sora.default_duration == 4
    assert sora.max_images == 1
    assert sora.image_transport is ImageTransport.DATA_URI
    assert sora.orientations == (Orientation.LANDSCAPE, Orientation.PORTRAIT)
    assert sora.size_for(Orientation.PORTRAIT) == "720x1280"
    assert sora.hd_orientations == frozenset()
    assert sora.cost(4) == 4
    assert sora.retired == "2026-09-24"
    assert sora.use_instead == "veo-3.1-fast-generate-preview"
    assert sora.cost(12) == 12


def test_shipped_sora_2_pro_costs_more() -> None:
    catalog = Catalog.load()
    pro, base = catalog.get("sora-2-pro"), catalog.get("sora-2")
    assert pro is not None and base is not None
    assert pro.wire_format is WireFormat.OPENAI
    assert pro.cost(8) > base.cost(8)


@pytest.mark.parametrize(("name", "max_images"), [("veo3.1-fast", 1), ("veo3.1-fast-components", 3)])
def test_shipped_veo_models(name: str, max_images: int) -> None:
    veo = Catalog.load().get(name)
    assert veo is not None
    assert veo.wire_format is WireFormat.UNIFIED
    assert veo.image_transport is ImageTransport.URL
    assert veo.max_images == max_images
    assert veo.durations == (8,)
    assert veo.hd_orientations == frozenset({Orientation.LANDSCAPE})


def test_custom_catalog_parses() -> None:
    text = model_toml("first") + model_toml("second", format='"unified"', hd_orientations='["portrait"]')
    catalog = Catalog.parse(text, SOURCE)
    assert [m.name for m in catalog] == ["first", "second"]
    assert catalog.default.name == "first"
    second = catalog.get("second")
    assert second is not None
    assert second.wire_format is WireFormat.UNIFIED
    assert second.hd_orientations == frozenset({Orientation.PORTRAIT})
    assert catalog.source == SOURCE


def test_usual_minutes_say_how_long_a_job_takes_and_default_to_five() -> None:
    catalog = Catalog.parse(model_toml("quick", usual_minutes="1.5") + model_toml("plain"), SOURCE)
    assert [m.usual_minutes for m in catalog] == [1.5, 5.0]


def test_label_defaults_to_the_name_and_orientations_can_be_left_out() -> None:
    text = model_toml("landscape-only", label="", sizes='{ landscape = "1920x1080" }', hd_orientations="")
    spec = Catalog.parse(text, SOURCE).default
    assert spec.label == "landscape-only"
    assert spec.orientations == (Orientation.LANDSCAPE,)
    assert spec.hd_orientations == frozenset()


@pytest.mark.parametrize(
    ("replace", "field", "detail"),
    [
        ({"format": '"grpc"'}, "format", "'grpc' is not one of"),
        ({"sizes": '{ landscape = "1280by720" }'}, "sizes.landscape", "WIDTHxHEIGHT"),
        ({"sizes": '{ landscape = "0x720" }'}, "sizes.landscape", "WIDTHxHEIGHT"),
        ({"sizes": '{ square = "720x720" }'}, "sizes", "unknown orientation 'square'"),
        ({"default_duration": "6"}, "default_duration", "6 is not one of the durations"),
        ({"durations": "[]"}, "durations", "non-empty list"),
        ({"durations": "[4, -8]"}, "durations", "positive whole seconds"),
        ({"price": "3"}, "price", "unknown field"),
        ({"hd_orientations": '["portrait"]', "sizes": '{ landscape = "1280x720" }'}, "hd_orientations", "portrait"),
        ({"credits_per_second": "-1.5"}, "credits_per_second", "must not be negative"),
        ({"max_images": "4"}, "max_images", "expected 0 to 3"),
        ({"max_images": "true"}, "max_images", "expected"),
        ({"image_transport": '"carrier-pigeon"'}, "image_transport", "is not one of"),
        ({"credits_per_second": ""}, "credits_per_second", "missing"),
        ({"usual_minutes": "0"}, "usual_minutes", "positive number of minutes"),
        ({"usual_minutes": '"soon"'}, "usual_minutes", "positive number of minutes"),
    ],
)
def test_bad_model_names_file_model_and_field(replace: dict[str, str], field: str, detail: str) -> None:
    text = parse_error(model_toml("broken-model", **replace))
    assert SOURCE in text
    assert "'broken-model'" in text
    assert f"field '{field}'" in text
    assert detail in text


def test_every_bad_model_is_reported_together() -> None:
    text = parse_error(
        model_toml("good-one") + model_toml("bad-one", format='"grpc"') + model_toml("worse-one", max_images="9")
    )
    assert "'bad-one': field 'format'" in text
    assert "'worse-one': field 'max_images'" in text
    assert "'good-one'" not in text


def test_a_model_without_a_name_is_named_by_position() -> None:
    nameless = model_toml("second").replace('name = "second"\n', "")
    text = parse_error(model_toml("first") + nameless)
    assert f"{SOURCE}: model #2" in text
    assert "field 'name': missing" in text


def test_duplicate_name() -> None:
    text = parse_error(model_toml("twin") + model_toml("twin"))
    assert SOURCE in text
    assert "'twin'" in text
    assert "field 'name': listed twice" in text


def test_not_toml() -> None:
    text = parse_error("[[models]\nname = 'x'")
    assert SOURCE in text
    assert "not valid TOML" in text


@pytest.mark.parametrize("text", ["", "title = 'no models here'\n", "models = []\n", "models = 'sora-2'\n"])
def test_no_models(text: str) -> None:
    message = parse_error(text)
    assert SOURCE in message
    assert "[[models]]" in message


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(model_toml("tmp-model", default_duration="5"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Catalog.load(path)
    text = str(caught.value)
    assert str(path) in text
    assert "'tmp-model'" in text
    assert "field 'default_duration'" in text


def test_load_reads_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(model_toml("only-model"), encoding="utf-8")
    catalog = Catalog.load(path)
    assert catalog.default.name == "only-model"
    assert catalog.source == str(path)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_models_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "models.toml"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(ConfigError) as caught:
        Catalog.load(path)
    text = str(caught.value)
    assert "MODELS_FILE" in text
    assert str(path) in text


def test_models_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_bytes(model_toml("latin", label='"Vidéo rapide"').encode("latin-1"))
    with pytest.raises(ConfigError, match="MODELS_FILE"):
        Catalog.load(path)


@pytest.mark.parametrize(
    ("replace", "field", "detail"),
    [
        ({"request": '{ duration = "length" }'}, "request.duration", "the gateway drops 'length'"),
        ({"request": '{ size = "size" }'}, "request.duration", "missing"),
        ({"request": '{ duration = "seconds:int" }'}, "request.duration", "decodes 'seconds' as string, not int"),
        ({"request": '{ duration = "metadata" }'}, "request.duration", "name a key inside metadata"),
        ({"request": '{ duration = "duration", tempo = "metadata.tempo" }'}, "request.tempo", "unknown option"),
        ({"request": '{ duration = "duration", images = "metadata.pics:int" }'}, "request.images", "int cannot carry"),
        ({"request": '{ duration = "duration" }'}, "request.images", "the model takes reference images"),
        (
            {"request": '{ duration = "duration", images = "image" }', "max_images": "2"},
            "max_images",
            "image carries one image",
        ),
        (
            {"request": '{ duration = "duration", images = "image", resolution = "metadata.res" }'},
            "resolution",
            "missing",
        ),
        ({"retired": '"last autumn"'}, "retired", "a date such as 2026-09-24"),
        ({"use_instead": '"nowhere"'}, "use_instead", "not a model of this catalog"),
        ({"fixed": '{ "metadata.mode" = "pro" }'}, "fixed", "needs a 'request' table"),
        ({"min_images": "2"}, "min_images", "more than max_images"),
    ],
)
def test_bad_request_mappings_name_file_model_and_field(replace: dict[str, str], field: str, detail: str) -> None:
    message = parse_error(model_toml("mapped", **replace))
    assert f"{SOURCE}: model 'mapped': field '{field}'" in message
    assert detail in message


def test_the_unified_format_has_a_fixed_request() -> None:
    message = parse_error(model_toml("u", format='"unified"', request='{ duration = "duration" }'))
    assert "model 'u': field 'request': the unified format's request is fixed" in message


def test_a_request_mapping_builds_the_body_the_adaptor_reads() -> None:
    text = model_toml(
        "mapped",
        request='{ duration = "metadata.duration:string", aspect_ratio = "metadata.ratio", '
        'resolution = "metadata.resolution", images = "images", last_frame = "metadata.tail" }',
        max_images="3",
        resolution='"720p"',
        hd_resolution='"1080p"',
        hd_orientations='["landscape"]',
        fixed='{ "metadata.mode" = "pro", "metadata.audio" = true }',
    )
    spec = Catalog.parse(text, SOURCE).default
    request = GenerationRequest(
        prompt="p",
        model="mapped",
        orientation=Orientation.LANDSCAPE,
        duration=8,
        hd=True,
        images=("a", "b"),
        last_frame="z",
    )
    assert spec.takes_last_frame
    assert openai.build_create(request, spec) == {
        "model": "mapped",
        "prompt": "p",
        "images": ["a", "b"],
        "metadata": {
            "duration": "8",
            "ratio": "16:9",
            "resolution": "1080p",
            "tail": "z",
            "mode": "pro",
            "audio": True,
        },
    }


def test_retired_models_are_never_the_default() -> None:
    text = model_toml("old", retired='"2026-09-24"', use_instead='"new"') + model_toml("new")
    catalog = Catalog.parse(text, SOURCE)
    assert catalog.default.name == "new"
    assert parse_error(model_toml("old", retired='"2026-09-24"')).endswith(
        "every model is retired; list at least one that is in service"
    )
