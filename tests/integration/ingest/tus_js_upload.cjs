// Upload one file with tus-js-client (the web app's copy, in web/node_modules) and print what
// the final answer said: node tus_js_upload.cjs ENDPOINT TOKEN FILE CHUNK_BYTES
const path = require("node:path");
const fs = require("node:fs");
const { Upload } = require(path.join(__dirname, "../../../web/node_modules/tus-js-client"));

const [endpoint, token, file, chunk] = process.argv.slice(2);
const upload = new Upload(fs.readFileSync(file), {
  endpoint,
  chunkSize: Number(chunk),
  retryDelays: [],
  metadata: { filename: path.basename(file) },
  headers: { Authorization: `Bearer ${token}` },
  onSuccess: ({ lastResponse }) => {
    const answer = {
      status: lastResponse.getStatus(),
      offset: lastResponse.getHeader("Upload-Offset"),
      jobId: lastResponse.getHeader("Upload-Job-Id"),
      url: upload.url,
    };
    process.stdout.write(JSON.stringify(answer));
  },
  onError: (error) => {
    process.stderr.write(String(error));
    process.exit(1);
  },
});
upload.start();
