import { useState } from "react";
import {
  Button,
  Disclosure,
  DisclosurePanel,
  DropZone,
  FileTrigger,
  Heading,
  Text,
  isFileDropItem,
} from "react-aria-components";
import { Link } from "react-router";

import { Choose, Progress } from "../../components/controls";
import { Field } from "../../components/fields";
import { formatBytes } from "../../components/format";
import { usePageTitle } from "../../components/usePageTitle";
import { PRESETS } from "../../config/presets";
import { buildOptions, EMPTY_ADVANCED, type Advanced } from "./presets";
import { useUploadsContext } from "./UploadsProvider";
import type { FileUpload } from "./useUploads";

const ACCEPTED = ["video/*", "audio/*", ".mkv", ".mov", ".avi", ".webm", ".mp4", ".ts"];

export function UploadPage() {
  usePageTitle("Upload");
  const uploads = useUploadsContext();
  const [preset, setPreset] = useState<string>("h264-720p");
  const [advancedOpen, setAdvancedOpen] = useState(false);
  const [advanced, setAdvanced] = useState<Advanced>(EMPTY_ADVANCED);
  const start = (picked: File[]) => {
    if (picked.length) uploads.add(picked, buildOptions(preset, advancedOpen ? advanced : null));
  };
  const setField = (key: keyof Advanced) => (value: string) => setAdvanced((old) => ({ ...old, [key]: value }));

  return (
    <div className="stack">
      <h1>Upload videos</h1>
      <div className="row wrap">
        <Choose label="Preset" value={preset} choices={PRESETS} onChange={setPreset} />
      </div>
      <Disclosure isExpanded={advancedOpen} onExpandedChange={setAdvancedOpen} className="disclosure">
        <Heading level={2}>
          <Button slot="trigger">{advancedOpen ? "▾" : "▸"} Advanced options</Button>
        </Heading>
        <DisclosurePanel>
          <p>Each field given overrides the preset; leave empty to keep it.</p>
          <div className="grid">
            <Field label="Format (mp4, webm, hls, m4a)" value={advanced.format} onChange={setField("format")} />
            <Field label="Max height (px)" inputMode="numeric" value={advanced.height} onChange={setField("height")} />
            <Field label="Quality (CRF)" inputMode="numeric" value={advanced.crf} onChange={setField("crf")} />
            <Field label="Video bit rate (e.g. 2M)" value={advanced.video_bitrate} onChange={setField("video_bitrate")} />
            <Field label="Audio bit rate (e.g. 128k)" value={advanced.audio_bitrate} onChange={setField("audio_bitrate")} />
            <Field label="Frame rate" inputMode="decimal" value={advanced.fps} onChange={setField("fps")} />
            <Field label="Trim start (s)" inputMode="decimal" value={advanced.trim_start} onChange={setField("trim_start")} />
            <Field label="Trim end (s)" inputMode="decimal" value={advanced.trim_end} onChange={setField("trim_end")} />
          </div>
        </DisclosurePanel>
      </Disclosure>

      <DropZone
        className="dropzone"
        aria-label="Drop video files here"
        getDropOperation={() => "copy"}
        onDrop={(event) => {
          const items = event.items.filter(isFileDropItem);
          void Promise.all(items.map((item) => item.getFile())).then(start);
        }}
      >
        <Text slot="label">Drop video files here, or</Text>
        <FileTrigger allowsMultiple acceptedFileTypes={ACCEPTED} onSelect={(list) => start(list ? [...list] : [])}>
          <Button className="primary">Choose files</Button>
        </FileTrigger>
      </DropZone>

      {uploads.files.length > 0 && (
        <section aria-labelledby="sending" className="stack">
          <div className="row spread">
            <h2 id="sending">Files</h2>
            <Button onPress={uploads.clearFinished}>Clear finished</Button>
          </div>
          <ul className="uploads">
            {uploads.files.map((file) => (
              <UploadRow key={file.key} file={file} />
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

function UploadRow({ file }: { file: FileUpload }) {
  const uploads = useUploadsContext();
  const percent = file.size ? Math.round((file.sent / file.size) * 100) : 100;
  return (
    <li className="upload" data-state={file.state}>
      <div className="row spread">
        <strong className="break">{file.name}</strong>
        <span>
          {formatBytes(file.sent)} of {formatBytes(file.size)}
        </span>
      </div>
      <Progress label={`Upload of ${file.name}`} value={percent} />
      {file.resumedFrom !== undefined && (
        <Text>Continued from {formatBytes(file.resumedFrom)} already on the server.</Text>
      )}
      {file.state === "error" && (
        <p className="error-text" role="alert">
          {file.error}
        </p>
      )}
      <div className="row wrap">
        <span className="state">{file.state}</span>
        {file.state === "uploading" && (
          <Button onPress={() => uploads.pause(file.key)} aria-label={`Pause ${file.name}`}>
            Pause
          </Button>
        )}
        {(file.state === "paused" || (file.state === "error" && !file.refused)) && (
          <Button onPress={() => uploads.resume(file.key)} aria-label={`Resume ${file.name}`}>
            Resume
          </Button>
        )}
        {(file.state === "uploading" || file.state === "paused") && (
          <Button onPress={() => uploads.cancel(file.key)} aria-label={`Cancel ${file.name}`}>
            Cancel
          </Button>
        )}
        {file.jobId && <Link to={`/jobs/${file.jobId}`}>Open the job for {file.name}</Link>}
      </div>
    </li>
  );
}
