// The browser side of the interop test: one RTCPeerConnection that plays the far end of a
// Genesys Cloud call. Installed into the page with WebDriver `execute/sync`; each function is
// then called from `execute/async` and resolves to a JSON value.
window.interop = {
  pc: null,
  remoteTrack: null,
  log: [],

  // Makes the offer: fake microphone -> addTrack, waits for ICE gathering to complete and
  // returns the full local SDP (candidates included).
  async offer() {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.ontrack = (e) => { this.remoteTrack = e.track; this.log.push('track ' + e.track.kind); };
    pc.onconnectionstatechange = () => this.log.push('connection ' + pc.connectionState);
    pc.oniceconnectionstatechange = () => this.log.push('ice ' + pc.iceConnectionState);
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    for (const t of stream.getAudioTracks()) pc.addTrack(t, stream);
    const gathered = new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') resolve();
      });
    });
    await pc.setLocalDescription(await pc.createOffer());
    await Promise.race([gathered, new Promise((r) => setTimeout(r, 10000))]);
    return pc.localDescription.sdp;
  },

  // Applies the client's answer and its trickled candidates (`candidate:…` lines, or
  // `end-of-candidates`).
  async answer(sdp, candidates) {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
    let added = 0;
    for (const c of candidates) {
      if (c === 'end-of-candidates') {
        await this.pc.addIceCandidate({ candidate: '', sdpMid: '0', sdpMLineIndex: 0 });
      } else {
        await this.pc.addIceCandidate({ candidate: c, sdpMid: '0', sdpMLineIndex: 0 });
        added++;
      }
    }
    return added;
  },

  // Waits until the connection is 'connected' (or fails / times out) and returns its state.
  async waitConnected(ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const s = this.pc.connectionState;
      if (s === 'connected' || s === 'failed' || s === 'closed') return s;
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.pc.connectionState;
  },

  // Reads `ms` of the remote track's decoded audio (first channel, as 16-bit integers) with
  // MediaStreamTrackProcessor, and an AnalyserNode spectrum of the same stream.
  async capture(ms) {
    const track = this.remoteTrack;
    if (!track) return { error: 'no remote track' };
    // An <audio> element keeps the remote stream flowing (Chromium only renders remote WebRTC
    // audio that is attached to a sink).
    const stream = new MediaStream([track]);
    const el = new Audio();
    el.muted = true;
    el.srcObject = stream;
    el.play().catch(() => {});
    const ctx = new AudioContext();
    await ctx.resume().catch(() => {});
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    ctx.createMediaStreamSource(stream).connect(analyser);

    const processor = new MediaStreamTrackProcessor({ track });
    const reader = processor.readable.getReader();
    const samples = [];
    let rate = 0;
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const { value, done } = await reader.read();
      if (done) break;
      rate = value.sampleRate;
      const n = value.numberOfFrames;
      const buf = new Float32Array(n);
      value.copyTo(buf, { planeIndex: 0, format: 'f32-planar' });
      value.close();
      for (let i = 0; i < n; i++) samples.push(Math.max(-32768, Math.min(32767, Math.round(buf[i] * 32768))));
    }
    reader.releaseLock();
    const spectrum = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(spectrum);
    let peak = 0;
    for (let i = 1; i < spectrum.length; i++) if (spectrum[i] > spectrum[peak]) peak = i;
    const binHz = ctx.sampleRate / analyser.fftSize;
    // Median bin level as the "rest of the spectrum".
    const sorted = Array.from(spectrum).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    const median = sorted.length ? sorted[Math.floor(sorted.length / 2)] : -Infinity;
    const analyserResult = {
      contextState: ctx.state,
      contextRate: ctx.sampleRate,
      peakHz: peak * binHz,
      peakDb: Number.isFinite(spectrum[peak]) ? spectrum[peak] : null,
      medianDb: Number.isFinite(median) ? median : null,
    };
    await ctx.close();
    el.srcObject = null;
    return { rate, samples, analyser: analyserResult };
  },

  // inbound-rtp / outbound-rtp audio stats and the negotiated codec.
  async stats() {
    const report = await this.pc.getStats();
    const out = {};
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.inbound = {
          packetsReceived: s.packetsReceived, packetsLost: s.packetsLost,
          totalAudioEnergy: s.totalAudioEnergy, audioLevel: s.audioLevel,
          totalSamplesReceived: s.totalSamplesReceived, codecId: s.codecId,
        };
      }
      if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        out.outbound = { packetsSent: s.packetsSent, bytesSent: s.bytesSent };
      }
    });
    report.forEach((s) => {
      if (s.type === 'codec' && out.inbound && s.id === out.inbound.codecId) {
        out.codec = s.mimeType + '/' + s.clockRate;
      }
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        const l = report.get(s.localCandidateId), r = report.get(s.remoteCandidateId);
        out.pair = (l && l.address) + ':' + (l && l.port) + ' -> ' + (r && r.address) + ':' + (r && r.port);
      }
    });
    out.connectionState = this.pc.connectionState;
    out.log = this.log;
    return out;
  },

  close() {
    if (this.pc) this.pc.close();
    this.pc = null;
  },
};
