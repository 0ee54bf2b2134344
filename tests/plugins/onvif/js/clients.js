// Points two independent ONVIF clients (agsh `onvif`, futomi `node-onvif`) at a simulated device and
// prints what each read as one JSON line. Usage: node clients.js agsh|node-onvif HOST PORT USER PASS
'use strict';
const [which, host, port, user, pass] = process.argv.slice(2);

function fail(error) {
  console.log(JSON.stringify({ client: which, ok: false, error: String(error && error.message || error) }));
  process.exit(1);
}
setTimeout(() => fail('timed out'), 20000).unref();

function agsh() {
  const { Cam } = require('onvif');
  const call = (cam, name, ...args) => new Promise((resolve, reject) =>
    cam[name](...args, (err, result) => (err ? reject(err) : resolve(result))));
  const cam = new Cam({ hostname: host, port: Number(port), username: user, password: pass, timeout: 10000 }, async (err) => {
    if (err) return fail(err);
    try {
      const info = await call(cam, 'getDeviceInformation');
      const time = await call(cam, 'getSystemDateAndTime');
      const profiles = await call(cam, 'getProfiles');
      const snapshot = await call(cam, 'getSnapshotUri', { profileToken: profiles[0].$.token });
      const stream = await call(cam, 'getStreamUri', { protocol: 'RTSP', profileToken: profiles[0].$.token });
      console.log(JSON.stringify({
        client: 'agsh', ok: true, manufacturer: info.manufacturer, model: info.model,
        serial: info.serialNumber, time: time.toISOString(), profiles: profiles.map((p) => p.$.token),
        snapshot: snapshot.uri, stream: stream.uri,
      }));
    } catch (e) { fail(e); }
  });
}

async function nodeOnvif() {
  const onvif = require('node-onvif');
  const device = new onvif.OnvifDevice({ xaddr: `http://${host}:${port}/onvif/device_service`, user, pass });
  try {
    const info = await device.init();
    const time = await device.services.device.getSystemDateAndTime();
    const profile = device.getCurrentProfile();
    const token = profile.token;
    const snapshot = await device.services.media.getSnapshotUri({ ProfileToken: token });
    const stream = await device.services.media.getStreamUri({ ProfileToken: token, Protocol: 'RTSP' });
    const utc = time.data.GetSystemDateAndTimeResponse.SystemDateAndTime.UTCDateTime;
    console.log(JSON.stringify({
      client: 'node-onvif', ok: true, manufacturer: info.Manufacturer, model: info.Model,
      serial: info.SerialNumber, time: utc, profiles: device.getProfileList().map((p) => p.token),
      snapshot: snapshot.data.GetSnapshotUriResponse.MediaUri.Uri,
      stream: stream.data.GetStreamUriResponse.MediaUri.Uri,
    }));
  } catch (e) { fail(e); }
}

if (which === 'agsh') agsh(); else if (which === 'node-onvif') nodeOnvif(); else fail(`unknown client ${which}`);
