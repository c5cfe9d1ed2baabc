"""The one settings root and its sections.

Each layer reads only its own section. Environment names are derived from the
path: ``CONTIMG_IMAGING__NITER`` sets ``imaging.niter``. Sources and their
precedence live in :mod:`contimg.config.loader`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "ApiSettings",
    "CalibrationSettings",
    "ConversionSettings",
    "DatabaseSettings",
    "ExecutorSettings",
    "FlaggingSettings",
    "ImagingSettings",
    "IngestSettings",
    "InstrumentSettings",
    "LoggingSettings",
    "MosaicSettings",
    "PathsSettings",
    "PhotometrySettings",
    "Settings",
    "section_hash",
]


class _Section(BaseModel):
    """Base of every section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class PathsSettings(_Section):
    """Where the pipeline keeps its files (the work directory layout)."""

    workdir: Path = Field(
        Path("contimg-data"), description="Work directory holding incoming data and products."
    )
    incoming: Path | None = Field(
        None,
        description=("Directory the correlator writes UVH5 files to (default workdir/incoming)."),
    )

    def _under(self, name: str) -> Path:
        return (self.workdir / name).absolute()

    @property
    def incoming_dir(self) -> Path:
        """Absolute path of the incoming directory."""
        return (self.incoming or self.workdir / "incoming").absolute()

    @property
    def ms_dir(self) -> Path:
        """Absolute path of the Measurement Set directory."""
        return self._under("ms")

    @property
    def caltables_dir(self) -> Path:
        """Absolute path of the calibration table directory."""
        return self._under("caltables")

    @property
    def images_dir(self) -> Path:
        """Absolute path of the image directory."""
        return self._under("images")

    @property
    def mosaics_dir(self) -> Path:
        """Absolute path of the mosaic directory."""
        return self._under("mosaics")

    @property
    def state_dir(self) -> Path:
        """Absolute path of the state directory (SQLite database)."""
        return self._under("state")

    @property
    def logs_dir(self) -> Path:
        """Absolute path of the log directory."""
        return self._under("logs")

    @property
    def scratch_dir(self) -> Path:
        """Absolute path of the scratch directory (temporary products)."""
        return self._under("scratch")

    def ensure(self) -> None:
        """Create every directory of the work directory layout."""
        for path in (
            self.incoming_dir,
            self.ms_dir,
            self.caltables_dir,
            self.images_dir,
            self.mosaics_dir,
            self.state_dir,
            self.logs_dir,
            self.scratch_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)


class InstrumentSettings(_Section):
    """The telescope: station layout, site, band and correlator output (DSA-110 defaults)."""

    station_file: Path | None = Field(
        None,
        description="Station CSV (name, latitude, longitude, elevation); default: the DSA-110 "
        "file shipped with contimg.",
    )
    telescope_name: str = Field(
        "OVRO_MMA", description="Telescope name written to data files (casacore knows OVRO_MMA)."
    )
    site_latitude_deg: float = Field(
        37.2314, ge=-90, le=90, description="Array reference latitude (geodetic), degrees."
    )
    site_longitude_deg: float = Field(
        -118.2817, ge=-180, le=360, description="Array reference longitude, degrees east."
    )
    site_altitude_m: float = Field(
        1222.0, description="Array reference height above the WGS84 ellipsoid, metres."
    )
    dish_diameter_m: float = Field(4.65, gt=0, description="Dish diameter (Airy beam), metres.")
    n_subbands: int = Field(16, ge=1, description="Subbands (one file each) per observation.")
    channels_per_subband: int = Field(48, ge=1, description="Correlator channels per subband.")
    channel_width_hz: float = Field(244_140.625, gt=0, description="Correlator channel width, Hz.")
    f_top_hz: float = Field(
        1498.75e6, gt=0, description="Upper edge of subband 0 (the highest subband), Hz."
    )
    integration_time_s: float = Field(
        12.884902, gt=0, description="Correlator integration time, seconds."
    )
    integrations_per_group: int = Field(
        24, ge=1, description="Integrations in one group (one file)."
    )
    timestamp_jitter_s: float = Field(
        30.0, ge=0, description="File-name timestamps of a group scatter this far from sb00's, s."
    )
    correlations: tuple[Literal["XX", "YY", "XY", "YX", "RR", "LL", "RL", "LR"], ...] = Field(
        ("XX", "YY"), min_length=1, description="Correlation products written."
    )
    sefd_jy: float = Field(
        5800.0, gt=0, description="SEFD per dish (Tsys ~25 K, aperture efficiency ~0.7), Jy."
    )


class IngestSettings(_Section):
    """Indexing of incoming files and assembly of subband groups."""

    group_tolerance_s: float = Field(
        60.0, gt=0, description="Files whose timestamps lie within this many seconds form a group."
    )
    stable_wait_s: float = Field(
        1.0, ge=0, description="A file is indexed once its size is unchanged for this long."
    )
    group_timeout_s: float = Field(
        900.0,
        gt=0,
        description=(
            "A group short of subbands this long after its first file is handled as incomplete."
        ),
    )
    poll_interval_s: float = Field(
        2.0,
        gt=0,
        description=("Polling period of the watcher (and of its network-filesystem fallback)."),
    )
    use_polling: bool = Field(
        False,
        description=("Poll the incoming directory instead of using inotify (network filesystems)."),
    )
    rescan_interval_s: float = Field(
        30.0,
        gt=0,
        description=("Full rescan of the incoming directory (safety net for missed events)."),
    )


class ConversionSettings(_Section):
    """UVH5 group to Measurement Set conversion."""

    writer: Literal["fast", "pyuvdata"] = Field(
        "fast", description="MS writer: 'fast' (python-casacore) or 'pyuvdata' (reference)."
    )
    missing_subbands: Literal["fail", "flag"] = Field(
        "fail", description="A group short of subbands: 'fail' it, or 'flag' the gap and convert."
    )
    n_workers: int = Field(2, ge=1, description="Processes reading subband files in parallel.")
    tmpfs_dir: Path | None = Field(
        None, description="Fast scratch (e.g. /dev/shm) to assemble the MS in before moving it."
    )


class FlaggingSettings(_Section):
    """RFI and data flagging before calibration and imaging."""

    backend: Literal["aoflagger", "casa", "none"] = Field(
        "aoflagger",
        description=("RFI flagger: 'aoflagger', 'casa' (flagdata tfcrop/rflag) or 'none'."),
    )
    flag_autocorrelations: bool = Field(True, description="Flag autocorrelations.")
    flag_zeros: bool = Field(True, description="Flag visibilities that are exactly zero.")
    max_flag_fraction: float = Field(
        0.5, ge=0, le=1, description="Fail the stage when more than this fraction is flagged."
    )
    aoflagger_strategy: Path | None = Field(
        None, description="AOFlagger Lua strategy; default: the one shipped for DSA-110."
    )
    casa_mode: Literal["tfcrop", "rflag"] = Field(
        "tfcrop", description="flagdata mode of the 'casa' backend."
    )
    aoflagger_read_mode: Literal["memory", "indirect", "direct"] = Field(
        "memory",
        description=(
            "How AOFlagger reads the MS: 'memory' (all of it at once: 2.1 GB for a full group "
            "with its fields joined, 13 s; flagged field by field it needed ~13x the "
            "visibility size), 'indirect' (reorders it by baseline into a temporary file, "
            "1.2 GB, 15 s) or 'direct' (~0.1 GB, slowest)."
        ),
    )
    threads: int = Field(
        2, ge=1, description="Flagger threads: AOFlagger -j, and the amplitude clip's row blocks."
    )
    join_drift_fields: bool = Field(
        True,
        description=(
            "AOFlagger flags each FIELD as its own time sequence, and a DSA-110 group has one "
            "field per integration: flag a scratch copy whose rows share one field, so each "
            "baseline is one 24-integration time-frequency image (a full group: AOFlagger 35 s "
            "-> 13 s, clean data flagged 0.43 % -> 0.04 %). Only for MSs with one integration "
            "per field; the copy hard-links the MS's visibilities, and needs room for a "
            "whole MS only when scratch is on another filesystem."
        ),
    )
    clip_sigma: float | None = Field(
        10.0,
        gt=0,
        description=(
            "After the RFI backend, flag each channel of a row (one baseline, one integration) "
            "whose amplitude lies this many robust sigma above the row's median: strong bursts a "
            "backend can miss in short groups. None turns it off."
        ),
    )


class CalibrationSettings(_Section):
    """Calibrator selection, solving, registry and application."""

    refant: str = Field("103", description="Preferred reference antenna (station number).")
    max_dec_offset_deg: float = Field(
        1.5, gt=0, description="A calibrator transits a group within this declination distance."
    )
    min_calibrator_flux_jy: float = Field(
        1.0, gt=0, description="Calibrators fainter than this at 1.4 GHz are not used."
    )
    validity_hours: float = Field(
        12.0,
        gt=0,
        description=("A solution set is valid this many hours either side of its transit."),
    )
    when_missing: Literal["fail", "wait", "uncalibrated"] = Field(
        "wait",
        description=("No valid set for a target: 'fail', 'wait' for one, or image 'uncalibrated'."),
    )
    wait_timeout_s: float = Field(
        1800.0,
        gt=0,
        description=("How long a target waits for a calibration set before going on uncalibrated."),
    )
    refant_fallback: tuple[int, ...] = Field(
        (*range(104, 117), 117),
        description="Stations tried in order when the preferred reference antenna is unusable.",
    )
    refant_max_flag_fraction: float = Field(
        0.5, ge=0, le=1, description="A reference antenna may have at most this fraction flagged."
    )
    model: Path | None = Field(
        None,
        description=("Sky-model CSV to solve with instead of a catalogue calibrator (any array)."),
    )
    field_sources: Path | None = Field(
        None,
        description=(
            "Sky-model CSV of the other sources around calibrators: those within "
            "field_radius_deg of the calibrator join its model. A model of the calibrator alone "
            "pulls the solutions toward it and leaves the field's other sources 5-15 % faint in "
            "the calibrator group's own image."
        ),
    )
    field_radius_deg: float = Field(
        3.0, gt=0, le=20, description="Radius around the calibrator searched in field_sources."
    )
    solve_delay: bool = Field(
        False, description=("Solve for antenna delays (K) before the bandpass.")
    )
    short_solint: str | None = Field(
        None,
        description=("Also solve phase-only gains on this interval (e.g. '60s'); unset: inf only."),
    )
    min_snr: float = Field(3.0, ge=0, description="CASA minsnr: solutions below it are flagged.")
    apply_to: Literal["imaging", "ms"] = Field(
        "imaging",
        description=(
            "Where a target's calibration goes. 'imaging': the bandpass and gains are divided "
            "out of DATA while the imaging copy is averaged, and the group MS keeps its raw "
            "DATA (a full group: 11-13 s of CASA applycal saved); sets with delays or several "
            "solution times still use applycal. 'ms': CASA applycal writes CORRECTED_DATA "
            "into the group MS."
        ),
    )
    min_beam_response: float = Field(
        0.1,
        ge=0,
        le=1,
        description=(
            "Use only fields where the calibrator's primary-beam response is at least this."
        ),
    )
    max_input_flag_fraction: float = Field(
        0.9,
        ge=0,
        le=1,
        description=("Do not solve when more of the calibrator data are flagged (set rejected)."),
    )
    qa_max_flagged_fraction: float = Field(
        0.3, ge=0, le=1, description="QA: largest flagged fraction of solutions per table."
    )
    qa_min_snr: float = Field(5.0, ge=0, description="QA: smallest median solution SNR per table.")
    qa_max_amp_scatter: float = Field(
        0.2,
        gt=0,
        description=("QA: largest relative channel-to-channel amplitude scatter of solutions."),
    )
    qa_max_phase_scatter_deg: float = Field(
        20.0,
        gt=0,
        description=("QA: largest channel-to-channel phase scatter of solutions, degrees."),
    )


class ImagingSettings(_Section):
    """Imaging with WSClean (or tclean) and primary-beam correction."""

    backend: Literal["wsclean", "tclean"] = Field("wsclean", description="Imager backend.")
    fov_deg: float = Field(3.5, gt=0, le=30, description="Image field of view (square), degrees.")
    cell_arcsec: float | None = Field(
        None,
        gt=0,
        description=(
            "Pixel size; default the estimated synthesized beam's minor axis / cells_per_beam."
        ),
    )
    cells_per_beam: float = Field(
        4.0,
        ge=2.0,
        description=(
            "Pixels across the minor axis of the beam estimated from the weighted uv "
            "distribution, when cell_arcsec is unset; WSClean's fitted beam then spans 3-4 "
            'pixels. The clean, the FFTs and source finding follow the pixel count: 4 (4.0" '
            'on a full group) images in about 3/4 of the time of 5 (3.2"); noise-free '
            "fluxes moved by at most 1.2 % at 3.5."
        ),
    )
    robust: float = Field(0.0, ge=-2, le=2, description="Briggs robust parameter.")
    niter: int = Field(
        10000,
        ge=0,
        description=(
            "Most clean iterations. A guard only: cleaning normally stops at auto_threshold, and "
            "stopping on the iteration limit leaves flux in the residual, where the beam fit of "
            "photometry and source finding sees it 5-10 % low."
        ),
    )
    mgain: float = Field(
        0.8,
        gt=0,
        le=1,
        description=(
            "Major-cycle gain: the fraction of the residual peak cleaned between major cycles. "
            "0.85 saved one major cycle on a full group (WSClean 24 -> 20 s on a typical "
            "field, 29 -> 26 s next to a 5 Jy calibrator) with the same fluxes, but in one "
            "full test-suite run a small test image of one 2 Jy source came out split by "
            "PyBDSF, 2.24 Jy (not seen in 11 runs of it alone); 0.9 left 7.4 mJy around the "
            "calibrator where 0.8 left 5.0 mJy (small scale 19 mJy and 5.9 mJy)."
        ),
    )
    auto_mask: float = Field(5.0, gt=0, description="Auto-masking threshold, sigma.")
    auto_threshold: float = Field(1.0, gt=0, description="Auto-threshold for cleaning, sigma.")
    gridder: Literal["wgridder", "wstacking"] = Field(
        "wgridder",
        description=(
            "WSClean gridder: 'wgridder' (-use-wgridder) or WSClean's default w-stacking. "
            "In noise-free simulations w-stacking at padding 1.2 read sources near the edge of "
            "a 3 deg field 7-14 % faint and took 2.5x as long; wgridder was within 1 %."
        ),
    )
    wgridder_accuracy: float = Field(
        3e-3,
        gt=0,
        lt=0.1,
        description=(
            "Requested accuracy of WSClean's wgridder (-wgridder-accuracy; WSClean's default "
            "is 1e-4). 3e-3 narrows the gridding kernel: a full group's WSClean run takes "
            "about 30 % less time than at 1e-4 (15 % less than at 1e-3); on 25 noise-free "
            "1 Jy sources fluxes agreed with 1e-4 to 0.02 % and the residual rms did not change."
        ),
    )
    padding: float = Field(
        1.2,
        ge=1.0,
        le=4.0,
        description=(
            "WSClean grids an image this much wider than the field kept (-padding); "
            "w-stacking needs about 2.0 for 2 % flux accuracy near the field edge."
        ),
    )
    baseline_averaging: float | None = Field(
        5.0,
        gt=0,
        description=(
            "WSClean baseline-dependent time averaging (-baseline-averaging): each baseline is "
            "averaged in time while Earth rotation moves it less than this many wavelengths, "
            "so short baselines are averaged and long ones are not. 5 averages baselines "
            "shorter than about 1.1 km at 1.4 GHz; on a full group it halved WSClean's time, "
            "and noise-free sources 1.5 deg from the centre lost at most 0.6 % (1.7 % at 10). "
            "None: no averaging. WSClean only."
        ),
    )
    threads: int = Field(2, ge=1, description="Imager threads.")
    memory_gb: float = Field(8.0, gt=0, description="Imager memory limit, GB.")
    # A count, not a width: 4 x 244 kHz (full scale) smears the field edge by only 4.4",
    # but 4 x 2.9 MHz (test-scale channels) by 30"; so averaging is asked for per deployment.
    channel_average: int = Field(
        1,
        ge=1,
        description=(
            "Average this many channels before gridding (time follows gridded visibilities)."
        ),
    )
    average_to_mhz: float | None = Field(
        1.5,
        gt=0,
        description=(
            "Also average adjacent channels up to this width before gridding (the larger "
            "factor of this and channel_average wins). 1.5 MHz averages a full group's 244 kHz "
            "channels in sixes and images it in 0.55 of the time of 0.5 MHz; on noise-free "
            "1 Jy sources the forced-photometry flux 1.5 deg from the centre (primary beam "
            "0.43) changed by at most 0.5 % against no averaging (0.1 % at 0.5 MHz, 0.2 % at "
            "1 MHz, 1.2 % at 2 MHz). None: only channel_average."
        ),
    )
    pb_limit: float = Field(
        0.2,
        gt=0,
        lt=1,
        description=("Primary-beam corrected images are masked below this beam level."),
    )
    data_column: Literal["auto", "DATA", "CORRECTED_DATA"] = Field(
        "auto", description="Column to image; auto = CORRECTED_DATA when calibrated, else DATA."
    )
    restoring_beam_arcsec: tuple[float, float, float] | None = Field(
        None, description="Fixed restoring beam (major, minor arcsec; PA deg); default: PSF fit."
    )
    source_snr: float = Field(5.0, gt=0, description="Source-finding detection threshold, sigma.")
    source_rms_box_beams: float | None = Field(
        6.0,
        gt=0,
        description=(
            "PyBDSF's local-noise box, in restoring-beam major axes (step: a third of it). "
            "Near a bright source the local noise then includes its sidelobes, which are not "
            "fitted as sources: next to 0834+555 (5 Jy) a full group gave 23 sources in 16 s "
            "with 6 beams (100 pixels), where PyBDSF's own box (1201 pixels) gave 219, mostly "
            "artefacts, in 222 s. None: PyBDSF's choice."
        ),
    )
    reference_catalog: Path | None = Field(
        None,
        description=("Sky-model CSV to cross-match found sources with (flux scale, astrometry)."),
    )
    crossmatch_radius_arcsec: float = Field(
        30.0, gt=0, description="Maximum separation of a match to the reference catalogue."
    )
    qa_max_rms_jy: float = Field(
        0.01, gt=0, description=("QA: largest acceptable image rms, Jy/beam.")
    )
    qa_min_dynamic_range: float = Field(
        20.0, ge=0, description="QA: smallest acceptable peak / rms."
    )
    qa_max_flux_ratio_error: float = Field(
        0.2, ge=0, description="QA: largest acceptable |median(measured / reference flux) - 1|."
    )
    qa_max_offset_arcsec: float = Field(
        10.0,
        ge=0,
        description=("QA: largest acceptable median astrometric offset from the reference."),
    )


class MosaicSettings(_Section):
    """Mosaics along the strip."""

    scheduled: bool = Field(
        True,
        description=(
            "The streaming service mosaics each window of observing time once the data "
            "stream has passed its end."
        ),
    )
    window_hours: float = Field(
        1.0,
        gt=0,
        le=24,
        description=(
            "Length of a scheduled mosaic's window, hours of UTC aligned to midnight "
            "(1 h of drift is 15 deg of RA)."
        ),
    )
    min_images: int = Field(
        2, ge=1, description=("A mosaic needs at least this many QA-passed images.")
    )
    nice: int = Field(
        10,
        ge=0,
        le=19,
        description=(
            "CPU niceness added to the mosaic stage's process (process executor): a scheduled "
            "mosaic of a full-scale hour takes about 25 s of both cores, and at the same "
            "priority it slowed the group being processed beside it by as much. 0: none."
        ),
    )
    defer_max_s: float = Field(
        600.0,
        ge=0,
        description=(
            "A due scheduled mosaic waits while groups are being collected or processed, at "
            "most this long, so that it does not share their cores: even at nice 10 a load "
            "beside a full group slowed it by about 5 %. Live, a group leaves most of the 5 "
            "minutes between groups free; a backlog gets its mosaic after this. 0: never wait."
        ),
    )
    projection: Literal["TAN", "SIN", "CAR"] = Field(
        "TAN", description="Projection of the common mosaic grid (CAR for very long strips)."
    )
    cell_arcsec: float | None = Field(
        None, gt=0, description="Mosaic pixel size; default the finest input pixel."
    )
    interpolation: Literal["nearest-neighbor", "bilinear", "bicubic"] = Field(
        "bicubic", description="Reprojection interpolation (bicubic keeps peaks)."
    )
    pb_cutoff: float = Field(
        0.2, gt=0, lt=1, description="Input pixels with primary beam below this are not used."
    )
    qa_noise_ratio_max: float = Field(
        1.3, gt=0, description="QA fails when measured/expected noise exceeds this."
    )
    qa_flux_ratio_tolerance: float = Field(
        0.1, gt=0, description="QA fails when |median flux ratio - 1| exceeds this."
    )
    qa_min_snr: float = Field(
        10.0, gt=0, description="Reference sources below this S/N are not cross-matched."
    )
    reference_catalog: Path | None = Field(
        None, description="Sky-model CSV for the mosaic flux-ratio QA (default: none)."
    )
    max_extent_deg: float = Field(
        60.0, gt=0, le=180, description="Largest input-centre spread a TAN/SIN mosaic accepts."
    )


class PhotometrySettings(_Section):
    """Forced photometry and variability."""

    monitored_sources: Path | None = Field(
        None, description="Sky-model CSV of sources to measure in every image."
    )
    detection_sigma: float = Field(
        5.0, gt=0, description="Measurements below this many sigma are stored as upper limits."
    )
    eta_threshold: float = Field(
        5.0, gt=0, description="Sources with eta above this are variability candidates."
    )
    v_threshold: float = Field(
        0.1,
        gt=0,
        description=("Sources with V above this (and eta above its threshold) are candidates."),
    )
    min_measurements: int = Field(
        3, ge=2, description="Sources with fewer measurements are never candidates."
    )
    fit_radius_beams: float = Field(
        1.0, gt=0, description="Forced fit uses pixels within this many beam FWHM."
    )
    annulus_inner_beams: float = Field(
        3.0, gt=0, description="Inner radius (beam FWHM) of the local-rms annulus."
    )
    annulus_outer_beams: float = Field(
        8.0, gt=0, description="Outer radius (beam FWHM) of the local-rms annulus."
    )
    # Epoch-to-epoch flux scale (calibration transfer, primary-beam model across the drift)
    # varies by a few per cent; without this floor bright steady sources look variable.
    flux_scale_error_frac: float = Field(
        0.03, ge=0, description="Fractional flux-scale error added in quadrature."
    )
    monitor_first_epochs: int = Field(
        0, ge=0, description="Also monitor sources found in the first N images (0: off)."
    )
    monitor_match_radius_arcsec: float = Field(
        30.0, gt=0, description="Detections this close to a monitored source are that source."
    )


class ExecutorSettings(_Section):
    """Where stage attempts run."""

    kind: Literal["inline", "process", "dask"] = Field(
        "inline", description="Default executor: 'inline', 'process' or 'dask'."
    )
    address: str | None = Field(
        None, description="Dask scheduler address; a LocalCluster is started when unset."
    )
    max_parallel: int = Field(2, ge=1, description="Independent stages run at once within a run.")
    preload: tuple[str, ...] = Field(
        (
            "contimg.workflows.science",
            "casacore.tables",
            "pyuvdata",
            "matplotlib.pyplot",
            "bdsf",
        ),
        description=(
            "Modules the process executor's fork server imports once, so that each stage's "
            "child starts with them loaded (about 1-3 s per stage otherwise). A module that "
            "cannot be imported is skipped."
        ),
    )
    workers: int = Field(1, ge=1, description="Runs processed at once by the streaming service.")
    lease_s: float = Field(
        60.0,
        gt=0,
        description=("A service's claim on a group lapses this long after its last heartbeat."),
    )
    heartbeat_s: float = Field(
        5.0, gt=0, description="How often the streaming service renews its claims and heartbeat."
    )


class DatabaseSettings(_Section):
    """The state store."""

    url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite at workdir/state/contimg.sqlite3."
    )
    busy_timeout_ms: int = Field(10_000, ge=0, description="SQLite busy timeout, milliseconds.")


class ApiSettings(_Section):
    """The REST API and dashboard."""

    host: str = Field("127.0.0.1", description="Address `contimg serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `contimg serve` listens on.")
    api_key_sha256: str | None = Field(
        None, description="SHA-256 hex digest of the write API key; unset disables write endpoints."
    )
    cors_origins: tuple[str, ...] = Field(
        (), description=("Origins allowed by CORS (none by default).")
    )


class LoggingSettings(_Section):
    """Structured logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level written to the console and the log file."
    )
    json_file: bool = Field(
        True, description=("Also write JSON lines to workdir/logs/contimg.jsonl.")
    )
    db_batch_size: int = Field(100, ge=1, description="Log records per database write.")
    db_flush_interval_s: float = Field(
        1.0, gt=0, description="Flush buffered log records to the database at least this often."
    )


class Settings(BaseSettings):
    """The effective configuration of one contimg process or run."""

    model_config = SettingsConfigDict(
        env_prefix="CONTIMG_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    paths: PathsSettings = PathsSettings()
    instrument: InstrumentSettings = InstrumentSettings()
    ingest: IngestSettings = IngestSettings()
    conversion: ConversionSettings = ConversionSettings()
    flagging: FlaggingSettings = FlaggingSettings()
    calibration: CalibrationSettings = CalibrationSettings()
    imaging: ImagingSettings = ImagingSettings()
    mosaic: MosaicSettings = MosaicSettings()
    photometry: PhotometrySettings = PhotometrySettings()
    executor: ExecutorSettings = ExecutorSettings()
    database: DatabaseSettings = DatabaseSettings()
    api: ApiSettings = ApiSettings()
    logging: LoggingSettings = LoggingSettings()

    @property
    def database_url(self) -> str:
        """The configured database URL, or the default SQLite file in the work directory."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.paths.state_dir / 'contimg.sqlite3'}"


def section_hash(section: BaseModel) -> str:
    """Return a short stable digest of one section's values (part of run keys)."""
    payload = json.dumps(section.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
