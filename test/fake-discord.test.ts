/**
 * Proves the fake Discord against the real discord.js 14 client: login and READY, interaction
 * responses with files, components, the Message Content rule, uploads and threads, and the
 * faults the bot must survive.
 */
import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  type GatewayIntentsString,
  type Interaction,
  type Message,
  MessageFlags,
  type TextChannel,
} from 'discord.js';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDiscord, type FakeDiscordOptions, INTENTS } from './fakes/discord/index.js';

const TOKEN = 'smoke-test-token';
const LOADING = 1 << 7;
const EPHEMERAL = 1 << 6;

const running: { fake: FakeDiscord; clients: Client[] }[] = [];

afterEach(async () => {
  for (const entry of running.splice(0)) {
    await Promise.all(entry.clients.map((client) => client.destroy()));
    await entry.fake.close();
  }
});

async function png(width: number, height: number, color: string): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: color } })
    .png()
    .toBuffer();
}

async function startFake(options: FakeDiscordOptions = {}) {
  const fake = await FakeDiscord.start({ botToken: TOKEN, ...options });
  const entry = { fake, clients: [] as Client[] };
  running.push(entry);
  return entry;
}

type IntentName = keyof typeof GatewayIntentBits & GatewayIntentsString;

async function connect(
  entry: { fake: FakeDiscord; clients: Client[] },
  intents: IntentName[] = ['Guilds', 'GuildMessages', 'DirectMessages'],
): Promise<Client<true>> {
  const client = new Client({
    intents: intents.map((name) => GatewayIntentBits[name]),
    rest: { api: entry.fake.apiUrl, retries: 0 },
  });
  entry.clients.push(client);
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(TOKEN);
  await ready;
  if (!client.isReady()) throw new Error('client not ready');
  return client;
}

/** Runs a handler for each interaction and keeps its errors for the test to assert on. */
function onInteraction(client: Client, handler: (interaction: Interaction) => Promise<void>) {
  const failures: unknown[] = [];
  client.on(Events.InteractionCreate, (interaction) => {
    handler(interaction).catch((error: unknown) => failures.push(error));
  });
  return failures;
}

function textChannel(client: Client, channelId: string): TextChannel {
  const channel = client.channels.cache.get(channelId);
  if (!channel?.isTextBased() || channel.isDMBased() || channel.isThread()) {
    throw new Error(`channel ${channelId} is not a cached guild text channel`);
  }
  return channel as TextChannel;
}

async function apiErrorOf(promise: Promise<unknown>): Promise<DiscordAPIError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DiscordAPIError) return error;
    throw error;
  }
  throw new Error('expected a Discord API error');
}

describe('fake Discord with the real discord.js', () => {
  it('logs in, sends READY and GUILD_CREATE, and records authorised REST calls', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);

    expect(client.user.id).toBe(fake.botUserId);
    expect(client.application.id).toBe(fake.applicationId);
    expect(client.guilds.cache.get(fake.guildId)?.preferredLocale).toBe('en-US');
    expect(textChannel(client, fake.channelId).name).toBe('general');
    expect(fake.identifiedIntents()).toBe(
      INTENTS.Guilds | INTENTS.GuildMessages | INTENTS.DirectMessages,
    );
    await fake.ready();

    const gatewayCall = fake.calls.find((call) => call.route === 'GET /gateway/bot');
    expect(gatewayCall?.headers.authorization).toBe(`Bot ${TOKEN}`);
    expect(gatewayCall?.status).toBe(200);
  });

  it('refuses a wrong bot token on REST with 401', async () => {
    const { fake, clients } = await startFake();
    const client = new Client({ intents: [], rest: { api: fake.apiUrl, retries: 0 } });
    clients.push(client);
    await expect(client.login('wrong-token')).rejects.toThrow(/token/i);
    const call = fake.calls.find((entry) => entry.route === 'GET /gateway/bot');
    expect(call?.status).toBe(401);
    expect(call?.response).toEqual({ message: '401: Unauthorized', code: 0 });
  });

  it('closes the gateway with 4014 when MessageContent is asked for but not allowed', async () => {
    const { fake, clients } = await startFake({ messageContentIntent: false });
    const client = new Client({
      intents: [
        GatewayIntentBits.Guilds,
        GatewayIntentBits.GuildMessages,
        GatewayIntentBits.MessageContent,
      ],
      rest: { api: fake.apiUrl, retries: 0 },
    });
    clients.push(client);
    client.on(Events.ShardError, () => {
      // discord.js also reports the close as a shard error; the login rejection is what we check.
    });
    await expect(client.login(TOKEN)).rejects.toThrow(/disallowed intents/i);
    expect(fake.gatewayCloseCodes()).toContain(4014);
    expect((fake.identifiedIntents() ?? 0) & INTENTS.MessageContent).not.toBe(0);
  });

  it("accepts MessageContent when the app is allowed it, and shows other users' content", async () => {
    const entry = await startFake({ messageContentIntent: true });
    const { fake } = entry;
    const client = await connect(entry, ['Guilds', 'GuildMessages', 'MessageContent']);
    const received = new Promise<Message>((resolve) => client.once(Events.MessageCreate, resolve));
    fake.postUserMessage({ content: 'plain words' });
    expect((await received).content).toBe('plain words');
  });

  it('defers a slash command and fills @original with the uploaded file', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    const input = await png(4, 3, '#ffcc00');
    const output = await png(8, 6, '#0066ff');
    let downloaded: Buffer | undefined;
    const failures = onInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      const image = interaction.options.getAttachment('image', true);
      await interaction.deferReply();
      downloaded = Buffer.from(await (await fetch(image.url)).arrayBuffer());
      await interaction.editReply({
        content: `done: ${interaction.options.getString('prompt')}`,
        files: [new AttachmentBuilder(output, { name: 'x.png' })],
      });
    });

    const sent = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a banana', image: { filename: 'in.png', bytes: input } },
    });
    expect(sent.payload).toMatchObject({
      type: 2,
      locale: 'en-US',
      guild_locale: 'en-US',
      attachment_size_limit: 10 * 1024 * 1024,
      entitlements: [],
      context: 0,
      authorizing_integration_owners: { '0': fake.guildId },
      member: { user: { id: fake.userId } },
    });

    const responses = await fake.waitFor(() => {
      const current = fake.interactionResponses(sent.id);
      return current.original && (current.original.flags & LOADING) === 0 ? current : undefined;
    });
    expect(failures).toEqual([]);
    expect(responses.callbacks.map((callback) => callback.type)).toEqual([5]);
    expect(responses.original?.content).toBe('done: a banana');
    expect(responses.original?.attachments).toHaveLength(1);
    expect(responses.original?.attachments[0]?.bytes.equals(output)).toBe(true);
    expect(responses.original?.attachments[0]).toMatchObject({
      width: 8,
      height: 6,
      content_type: 'image/png',
    });
    expect(downloaded?.equals(input)).toBe(true);

    const edit = fake.calls.find(
      (call) => call.method === 'PATCH' && call.path.endsWith('/messages/@original'),
    );
    expect(edit?.route).toBe('PATCH /webhooks/:applicationId/:token/messages/:messageId');
    expect(edit?.headers.authorization).toBeUndefined();
    expect(edit?.files.map((file) => file.name)).toEqual(['x.png']);
    expect(fake.messages(fake.channelId).map((message) => message.id)).toContain(
      responses.original?.id,
    );
  });

  it('replies ephemerally, and refuses a second acknowledgement with 40060', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    const failures = onInteraction(client, async (interaction) => {
      if (interaction.isChatInputCommand()) {
        await interaction.reply({ content: 'only you', flags: MessageFlags.Ephemeral });
      }
    });
    const sent = fake.sendSlashCommand({ name: 'help' });
    const responses = await fake.waitFor(
      () => fake.interactionResponses(sent.id).original && fake.interactionResponses(sent.id),
    );
    expect(failures).toEqual([]);
    expect(responses.callbacks[0]?.type).toBe(4);
    expect((Number(responses.callbacks[0]?.data?.flags) & EPHEMERAL) !== 0).toBe(true);
    expect((responses.original?.flags ?? 0) & EPHEMERAL).toBe(EPHEMERAL);

    const again = await fetch(`${fake.apiUrl}/v10/interactions/${sent.id}/${sent.token}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 4, data: { content: 'twice' } }),
    });
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({
      code: 40060,
      message: 'Interaction has already been acknowledged.',
    });
  });

  it('updates the message a button is on', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    const channel = textChannel(client, fake.channelId);
    const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
      new ButtonBuilder().setCustomId('again').setLabel('Again').setStyle(ButtonStyle.Primary),
    );
    const posted = await channel.send({ content: 'result', components: [row] });
    const failures = onInteraction(client, async (interaction) => {
      if (interaction.isButton()) await interaction.update({ content: 'updated', components: [] });
    });

    const sent = fake.sendButton({ customId: 'again', messageId: posted.id });
    expect(sent.payload.message).toMatchObject({ id: posted.id });
    const updated = await fake.waitFor(
      () => fake.message(posted.id)?.content === 'updated' || undefined,
    );
    expect(updated).toBe(true);
    expect(failures).toEqual([]);
    expect(fake.interactionResponses(sent.id).callbacks.map((callback) => callback.type)).toEqual([
      7,
    ]);
    expect(fake.message(posted.id)?.components).toEqual([]);
    expect(fake.message(posted.id)?.edited_timestamp).not.toBeNull();
  });

  it('shows a modal and submits it shaped like the modal', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    let submitted: string | undefined;
    const failures = onInteraction(client, async (interaction) => {
      if (interaction.isChatInputCommand()) {
        await interaction.showModal({
          custom_id: 'edit-modal',
          title: 'Edit',
          components: [
            { type: 1, components: [{ type: 4, custom_id: 'prompt', label: 'Prompt', style: 1 }] },
          ],
        });
      } else if (interaction.isModalSubmit()) {
        submitted = interaction.fields.getTextInputValue('prompt');
        await interaction.reply({ content: `editing: ${submitted}` });
      }
    });
    const command = fake.sendSlashCommand({ name: 'edit' });
    await fake.waitFor(() => fake.interactionResponses(command.id).modal);
    const submit = fake.sendModalSubmit({ customId: 'edit-modal', fields: { prompt: 'bluer' } });
    const original = await fake.waitFor(() => fake.interactionResponses(submit.id).original);
    expect(failures).toEqual([]);
    expect(submitted).toBe('bluer');
    expect(original.content).toBe('editing: bluer');
  });

  it('applies the Message Content rule to replies without the intent', async () => {
    const entry = await startFake({
      guilds: [
        {
          members: [
            { id: '1001', username: 'alice' },
            { id: '1002', username: 'bob' },
          ],
        },
      ],
    });
    const { fake } = entry;
    const client = await connect(entry);
    const image = await png(2, 2, '#00ff00');
    const raw: Record<string, unknown>[] = [];
    client.on(Events.Raw, (packet: { t?: string; d?: Record<string, unknown> }) => {
      if (packet.t === 'MESSAGE_CREATE' && packet.d) raw.push(packet.d);
    });

    const others = fake.postUserMessage({
      authorId: '1002',
      content: 'my cat',
      attachments: [{ filename: 'cat.png', bytes: image }],
    });
    const own = await textChannel(client, fake.channelId).send({
      files: [new AttachmentBuilder(image, { name: 'own.png' })],
    });
    const replyToOther = fake.postUserMessage({
      authorId: '1001',
      content: `<@${fake.botUserId}> make it blue`,
      referenceMessageId: others.id,
    });
    const replyToOwn = fake.postUserMessage({
      authorId: '1001',
      content: 'make it red',
      referenceMessageId: own.id,
    });
    const seen = await fake.waitFor(() => {
      const other = raw.find((payload) => payload.id === replyToOther.id);
      const mine = raw.find((payload) => payload.id === replyToOwn.id);
      const plain = raw.find((payload) => payload.id === others.id);
      return other && mine && plain ? { other, mine, plain } : undefined;
    });

    // The other user's message itself does not mention the bot: emptied.
    expect(seen.plain).toMatchObject({ content: '', attachments: [] });
    // The reply mentions the bot: its text shows, but the other user's image does not.
    expect(seen.other).toMatchObject({ content: `<@${fake.botUserId}> make it blue`, type: 19 });
    expect(seen.other.referenced_message).toMatchObject({
      id: others.id,
      content: '',
      attachments: [],
    });
    // A reply to the bot's own image pings the bot (default reply ping) and carries the image.
    expect(seen.mine).toMatchObject({ content: 'make it red' });
    const ownReference = seen.mine.referenced_message as { attachments: { url: string }[] };
    expect(ownReference.attachments).toHaveLength(1);
    const bytes = Buffer.from(
      await (await fetch(ownReference.attachments[0]?.url ?? '')).arrayBuffer(),
    );
    expect(bytes.equals(image)).toBe(true);

    // REST follows the same rule.
    const channel = textChannel(client, fake.channelId);
    const fetched = await channel.messages.fetch({ message: others.id, force: true });
    expect(fetched.attachments.size).toBe(0);
    expect(fetched.content).toBe('');

    // A message context command carries the target whole, intent or not.
    const failures = onInteraction(client, async (interaction) => {
      if (interaction.isMessageContextMenuCommand()) {
        await interaction.reply({ content: `${interaction.targetMessage.attachments.size}` });
      }
    });
    const menu = fake.sendMessageContextCommand({ name: 'Edit image', targetMessageId: others.id });
    const original = await fake.waitFor(() => fake.interactionResponses(menu.id).original);
    expect(failures).toEqual([]);
    expect(original.content).toBe('1');
  });

  it('sends two files in a channel, starts a thread from the message and posts in it', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    const first = await png(3, 3, '#111111');
    const second = await png(5, 5, '#222222');
    const channel = textChannel(client, fake.channelId);
    const message = await channel.send({
      content: 'two results',
      files: [
        new AttachmentBuilder(first, { name: 'a.png' }),
        new AttachmentBuilder(second, { name: 'b.png' }),
      ],
    });
    const thread = await message.startThread({ name: 'edits' });
    await thread.send('inside the thread');

    const stored = fake.message(message.id);
    expect(stored?.attachments.map((attachment) => attachment.filename)).toEqual([
      'a.png',
      'b.png',
    ]);
    expect(stored?.attachments[1]?.bytes.equals(second)).toBe(true);
    expect(thread.id).toBe(message.id);
    expect(fake.threads().map((entryThread) => entryThread.id)).toEqual([message.id]);
    expect(fake.thread(message.id)).toMatchObject({
      parent_id: fake.channelId,
      name: 'edits',
      type: 11,
    });
    expect(fake.messages(thread.id).map((entryMessage) => entryMessage.content)).toEqual([
      'inside the thread',
    ]);
  });

  it("answers the faults a bot must survive with Discord's error codes", async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    const channel = textChannel(client, fake.channelId);
    const file = new AttachmentBuilder(await png(2, 2, '#333333'), { name: 'f.png' });

    fake.denyPermission(fake.channelId, 'ATTACH_FILES');
    expect((await apiErrorOf(channel.send({ files: [file] }))).code).toBe(50013);
    fake.allowPermission(fake.channelId, 'ATTACH_FILES');

    fake.setUploadLimit(10);
    const tooBig = await apiErrorOf(channel.send({ files: [file] }));
    expect([tooBig.status, tooBig.code]).toEqual([413, 40005]);
    fake.setUploadLimit(10 * 1024 * 1024);

    const eleven = Array.from(
      { length: 11 },
      (_, index) => new AttachmentBuilder(Buffer.from('x'), { name: `${index}.txt` }),
    );
    expect((await apiErrorOf(channel.send({ files: eleven }))).code).toBe(50035);

    const starter = await channel.send('thread starter');
    const thread = await starter.startThread({ name: 'old' });
    fake.archiveThread(thread.id);
    expect((await apiErrorOf(thread.send('late'))).code).toBe(50083);

    const posted = await channel.send({ files: [file] });
    const url = posted.attachments.first()?.url ?? '';
    expect((await fetch(url)).status).toBe(200);
    fake.expireAttachmentUrls();
    expect((await fetch(url)).status).toBe(404);
    const refreshed = (await client.rest.post('/attachments/refresh-urls', {
      body: { attachment_urls: [url] },
    })) as { refreshed_urls: { original: string; refreshed: string }[] };
    expect(refreshed.refreshed_urls[0]?.original).toBe(url);
    expect((await fetch(refreshed.refreshed_urls[0]?.refreshed ?? '')).status).toBe(200);

    let editError: unknown;
    const failures = onInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      await interaction.deferReply();
      fake.expireInteractionToken(interaction.id);
      editError = await interaction.editReply('too late').catch((error: unknown) => error);
    });
    fake.sendSlashCommand({ name: 'slow' });
    await fake.waitFor(() => editError);
    expect(failures).toEqual([]);
    expect(editError).toBeInstanceOf(DiscordAPIError);
    expect((editError as DiscordAPIError).code).toBe(50027);

    const unknown = await fetch(`${fake.apiUrl}/v10/nothing/here`, {
      headers: { authorization: `Bot ${TOKEN}` },
    });
    expect(unknown.status).toBe(404);
    expect(fake.calls.at(-1)?.route).toBe('GET <unknown>');
    expect(fake.internalErrors).toEqual([]);
  });

  it('acknowledges heartbeats', async () => {
    const entry = await startFake({ heartbeatIntervalMs: 40 });
    const client = await connect(entry);
    // discord.js measures its ping only from a heartbeat ack (-1 until then): waitFor fails the
    // test when no ack comes.
    await entry.fake.waitFor(() => client.ws.ping >= 0);
    expect(entry.fake.connectedClients()).toBe(1);
  });

  it('resumes after a gateway drop and replays what the client missed', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    const resumed = new Promise<void>((resolve) =>
      client.once(Events.ShardResume, () => resolve()),
    );
    fake.disconnectGateway(4000);
    const received = new Promise<Message>((resolve) => client.once(Events.MessageCreate, resolve));
    fake.postUserMessage({ content: `<@${fake.botUserId}> hello again` });
    await resumed;
    expect((await received).content).toBe(`<@${fake.botUserId}> hello again`);
  });

  it('leaves no sockets or servers behind after destroy and close', async () => {
    const count = () =>
      process
        .getActiveResourcesInfo()
        .filter((name) => name === 'TCPSocketWrap' || name === 'TCPServerWrap').length;
    const before = count();
    const entry = await startFake();
    const client = await connect(entry);
    expect(count()).toBeGreaterThan(before);
    await client.destroy();
    await entry.fake.close();
    running.splice(running.indexOf(entry), 1);
    // Sockets close asynchronously; wait a bounded number of turns.
    for (let attempt = 0; attempt < 50 && count() > before; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(count()).toBe(before);
  });
});

describe('fake Discord routes beyond the basics', () => {
  it('registers commands, types options from them, and follows up after a deferral', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    await client.application.commands.set([
      {
        name: 'imagine',
        description: 'Make an image',
        options: [
          { name: 'prompt', description: 'What to draw', type: 3, required: true },
          { name: 'count', description: 'How many', type: 4 },
          { name: 'scale', description: 'How big', type: 10 },
        ],
      },
    ]);
    await client.application.commands.set(
      [{ name: 'local', description: 'Guild only' }],
      fake.guildId,
    );
    expect(fake.commands().map((command) => command.name)).toEqual(['imagine']);
    expect(fake.commands(fake.guildId)[0]).toMatchObject({ name: 'local', guild_id: fake.guildId });

    const seen: unknown[] = [];
    const failures = onInteraction(client, async (interaction) => {
      if (!interaction.isChatInputCommand()) return;
      seen.push(interaction.commandId, interaction.options.getNumber('scale'));
      const response = await interaction.deferReply({
        flags: MessageFlags.Ephemeral,
        withResponse: true,
      });
      seen.push(response.interaction.responseMessageLoading);
      await interaction.followUp({ content: 'first follow-up' });
      await interaction.followUp({ content: 'second follow-up' });
      const reply = await interaction.fetchReply();
      seen.push(reply.content);
    });
    const sent = fake.sendSlashCommand({ name: 'imagine', options: { prompt: 'x', scale: 2 } });
    expect(sent.payload.data).toMatchObject({
      id: fake.commands()[0]?.id,
      options: [
        { name: 'prompt', type: 3, value: 'x' },
        { name: 'scale', type: 10, value: 2 },
      ],
    });
    await fake.waitFor(() => seen.length === 4 || failures.length > 0 || undefined);
    expect(failures).toEqual([]);
    expect(seen).toEqual([fake.commands()[0]?.id, 2, true, 'first follow-up']);
    const responses = fake.interactionResponses(sent.id);
    // The first follow-up filled the deferred message and kept it ephemeral.
    expect(responses.original).toMatchObject({ content: 'first follow-up', flags: EPHEMERAL });
    expect(responses.followups.map((message) => message.content)).toEqual(['second follow-up']);
  });

  it('serves reactions, message lists, deletions, DMs and threads without a message', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    const channel = textChannel(client, fake.channelId);
    const first = await channel.send('one');
    const second = await channel.send({ content: 'two', reply: { messageReference: first.id } });
    expect(second.reference?.messageId).toBe(first.id);
    await second.react('👍');
    expect(fake.message(second.id)?.reactions[0]).toMatchObject({
      emoji: { name: '👍' },
      count: 1,
    });
    const listed = await channel.messages.fetch({ limit: 10 });
    expect([...listed.keys()]).toEqual([second.id, first.id]);
    await first.delete();
    expect(fake.messages(fake.channelId).map((message) => message.id)).toEqual([second.id]);
    expect(fake.message(first.id)?.deleted).toBe(true);

    const thread = await channel.threads.create({ name: 'jobs' });
    expect(fake.thread(thread.id)).toMatchObject({
      name: 'jobs',
      type: 11,
      parent_id: fake.channelId,
    });

    const user = await client.users.fetch(fake.userId);
    const dm = await user.send('hello in private');
    expect(fake.message(dm.id)?.content).toBe('hello in private');
    expect(fake.channel(dm.channelId)).toMatchObject({ type: 1 });

    const unknownMessage = await apiErrorOf(channel.messages.fetch({ message: '1', force: true }));
    expect([unknownMessage.status, unknownMessage.code]).toEqual([404, 10008]);
    const empty = await apiErrorOf(channel.send({ content: '' }));
    expect(empty.code).toBe(50006);
  });

  it('refuses thread posts the bot may not make and thread starts it may not do', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    const channel = textChannel(client, fake.channelId);
    const starter = await channel.send('start');
    fake.denyPermission(fake.channelId, 'CREATE_PUBLIC_THREADS');
    expect((await apiErrorOf(starter.startThread({ name: 'no' }))).code).toBe(50013);
    fake.allowPermission(fake.channelId, 'CREATE_PUBLIC_THREADS');
    const thread = await starter.startThread({ name: 'yes' });
    fake.denyPermission(thread.id, 'SEND_MESSAGES_IN_THREADS');
    expect((await apiErrorOf(thread.send('blocked'))).code).toBe(50013);
    const sent = fake.sendSlashCommand({ name: 'check', channelId: fake.channelId });
    const appPermissions = BigInt(String(sent.payload.app_permissions));
    expect(appPermissions & (1n << 38n)).toBe(0n);
    expect(appPermissions & (1n << 11n)).not.toBe(0n);
  });
});

describe('fake Discord payload shapes', () => {
  it('sends DM interactions with `user` and context 1', async () => {
    const entry = await startFake();
    const { fake } = entry;
    const client = await connect(entry);
    const failures = onInteraction(client, async (interaction) => {
      if (interaction.isChatInputCommand())
        await interaction.reply({ content: `dm ${interaction.inGuild()}` });
    });
    const dmChannelId = fake.openDm(fake.userId);
    const sent = fake.sendSlashCommand({ name: 'imagine', channelId: dmChannelId });
    expect(sent.payload).toMatchObject({
      context: 1,
      user: { id: fake.userId },
      channel: { type: 1 },
    });
    expect(sent.payload.member).toBeUndefined();
    expect(sent.payload.guild_id).toBeUndefined();
    const original = await fake.waitFor(() => fake.interactionResponses(sent.id).original);
    expect(failures).toEqual([]);
    expect(original.content).toBe('dm false');
    expect(fake.messages(dmChannelId).map((message) => message.content)).toEqual(['dm false']);
  });

  it('answers a modal of Label components with Label-shaped submissions', async () => {
    const { fake } = await startFake();
    const opener = fake.sendSlashCommand({ name: 'edit' });
    const callback = await fetch(
      `${fake.apiUrl}/v10/interactions/${opener.id}/${opener.token}/callback`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          type: 9,
          data: {
            custom_id: 'labelled',
            title: 'Edit',
            components: [
              { type: 18, label: 'Prompt', component: { type: 4, custom_id: 'prompt', style: 2 } },
            ],
          },
        }),
      },
    );
    expect(callback.status).toBe(204);
    const submit = fake.sendModalSubmit({ customId: 'labelled', fields: { prompt: 'warmer' } });
    expect(submit.payload.data).toEqual({
      custom_id: 'labelled',
      components: [
        { type: 18, id: 1, component: { type: 4, id: 2, custom_id: 'prompt', value: 'warmer' } },
      ],
    });
    expect(() => fake.sendModalSubmit({ customId: 'labelled', fields: { other: 'x' } })).toThrow(
      /no inputs other/,
    );
  });
});

describe('fake Discord time: the 3 s deadline and 15-minute tokens on its clock', () => {
  const MINUTE = 60_000;

  async function callback(fake: FakeDiscord, sent: { id: string; token: string }, type: number) {
    return fetch(`${fake.apiUrl}/v10/interactions/${sent.id}/${sent.token}/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type }),
    });
  }

  function editOriginal(fake: FakeDiscord, token: string, content: string) {
    return fetch(`${fake.apiUrl}/v10/webhooks/${fake.applicationId}/${token}/messages/@original`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content }),
    });
  }

  it('refuses an answer later than 3 s with 10062 unless a test turns the deadline off', async () => {
    const { fake } = await startFake();
    const late = fake.sendSlashCommand({ name: 'imagine' });
    fake.advanceClock(3_001);
    const refused = await callback(fake, late, 5);
    expect(refused.status).toBe(404);
    expect(await refused.json()).toEqual({ code: 10062, message: 'Unknown interaction' });

    const inTime = fake.sendSlashCommand({ name: 'imagine' });
    fake.advanceClock(2_900);
    expect((await callback(fake, inTime, 5)).status).toBe(204);

    const { fake: lenient } = await startFake({ ackDeadlineMs: false });
    const slow = lenient.sendSlashCommand({ name: 'imagine' });
    lenient.advanceClock(10 * MINUTE);
    expect((await callback(lenient, slow, 5)).status).toBe(204);
  });

  it('lets the token edit the reply for 15 minutes after the interaction, then answers 50027', async () => {
    const { fake } = await startFake();
    const sent = fake.sendSlashCommand({ name: 'imagine' });
    expect((await callback(fake, sent, 5)).status).toBe(204);
    fake.advanceClock(14 * MINUTE);
    expect((await editOriginal(fake, sent.token, 'at 14 minutes')).status).toBe(200);
    expect(fake.interactionResponses(sent.id).original?.content).toBe('at 14 minutes');
    fake.advanceClock(MINUTE + 1);
    const expired = await editOriginal(fake, sent.token, 'at 15 minutes');
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as { code: number }).code).toBe(50027);
    expect(fake.interactionResponses(sent.id).original?.content).toBe('at 14 minutes');
  });

  it('stamps ids and timestamps with the moved clock', async () => {
    const { fake } = await startFake();
    const before = fake.now();
    fake.advanceClock(14 * MINUTE);
    expect(fake.now() - before).toBeGreaterThanOrEqual(14 * MINUTE);
    const sent = fake.sendSlashCommand({ name: 'imagine' });
    const createdAt = Number((BigInt(sent.id) >> 22n) + 1_420_070_400_000n);
    expect(createdAt).toBeGreaterThanOrEqual(before + 14 * MINUTE);
    expect(() => fake.advanceClock(-1)).toThrow(/cannot move/);
  });
});

describe('fake Discord mentions: computed from the content and allowed_mentions', () => {
  const ASKER = '100000000000000001';
  const SOMEONE = '100000000000000002';
  const ROLE = '100000000000000003';
  const pinging = `@everyone @here <@${SOMEONE}> <@&${ROLE}> <@${ASKER}>`;

  async function startWithPeople() {
    const entry = await startFake({
      guilds: [
        {
          members: [
            { id: ASKER, username: 'asker' },
            { id: SOMEONE, username: 'someone' },
          ],
          roles: [{ id: ROLE, name: 'moderators' }],
        },
      ],
    });
    return entry.fake;
  }

  function send(fake: FakeDiscord, method: string, route: string, body: object, bot = true) {
    return fetch(`${fake.apiUrl}/v10${route}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(bot ? { authorization: `Bot ${TOKEN}` } : {}),
      },
      body: JSON.stringify(body),
    });
  }

  async function post(fake: FakeDiscord, channelId: string, body: object) {
    const response = await send(fake, 'POST', `/channels/${channelId}/messages`, body);
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    return pings(fake, id);
  }

  function pings(fake: FakeDiscord, messageId: string) {
    const message = fake.message(messageId);
    return {
      users: message?.mentions.map((user) => user.id).sort(),
      roles: message?.mention_roles,
      everyone: message?.mention_everyone,
    };
  }

  it('parses every kind without allowed_mentions, only what it allows with it', async () => {
    const fake = await startWithPeople();
    expect(fake.userId).toBe(ASKER);
    expect(await post(fake, fake.channelId, { content: pinging })).toEqual({
      users: [ASKER, SOMEONE],
      roles: [ROLE],
      everyone: true,
    });
    expect(
      await post(fake, fake.channelId, {
        content: pinging,
        allowed_mentions: { users: [ASKER] },
      }),
    ).toEqual({ users: [ASKER], roles: [], everyone: false });
    expect(
      await post(fake, fake.channelId, { content: pinging, allowed_mentions: { parse: [] } }),
    ).toEqual({ users: [], roles: [], everyone: false });
    expect(
      await post(fake, fake.channelId, {
        content: pinging,
        allowed_mentions: { parse: ['everyone', 'roles'] },
      }),
    ).toEqual({ users: [], roles: [ROLE], everyone: true });
  });

  it('pings @everyone only where the bot has Mention Everyone, and never in a DM', async () => {
    const fake = await startWithPeople();
    expect((await post(fake, fake.openDm(ASKER), { content: '@everyone hi' })).everyone).toBe(
      false,
    );
    fake.denyPermission(fake.channelId, 'MENTION_EVERYONE');
    expect(await post(fake, fake.channelId, { content: pinging })).toEqual({
      users: [ASKER, SOMEONE],
      roles: [],
      everyone: false,
    });
  });

  it('refuses parse users together with a users list (50035)', async () => {
    const fake = await startWithPeople();
    const refused = await send(fake, 'POST', `/channels/${fake.channelId}/messages`, {
      content: 'x',
      allowed_mentions: { parse: ['users'], users: [ASKER] },
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { code: number }).code).toBe(50035);
  });

  it('computes the pings of interaction replies, follow-ups and edits the same way', async () => {
    const fake = await startWithPeople();
    const sent = fake.sendSlashCommand({ name: 'imagine' });
    const answered = await send(
      fake,
      'POST',
      `/interactions/${sent.id}/${sent.token}/callback`,
      { type: 4, data: { content: pinging } },
      false,
    );
    expect(answered.status).toBe(204);
    const original = fake.interactionResponses(sent.id).original;
    expect(pings(fake, original?.id ?? '')).toEqual({
      users: [ASKER, SOMEONE],
      roles: [ROLE],
      everyone: true,
    });

    const webhook = `/webhooks/${fake.applicationId}/${sent.token}`;
    const edited = await send(
      fake,
      'PATCH',
      `${webhook}/messages/@original`,
      { content: `${pinging} again`, allowed_mentions: { users: [ASKER] } },
      false,
    );
    expect(edited.status).toBe(200);
    expect(pings(fake, original?.id ?? '')).toEqual({ users: [ASKER], roles: [], everyone: false });

    const followup = await send(
      fake,
      'POST',
      `${webhook}?wait=true`,
      { content: pinging, allowed_mentions: { parse: ['everyone'] } },
      false,
    );
    expect(followup.status).toBe(200);
    const { id } = (await followup.json()) as { id: string };
    expect(pings(fake, id)).toEqual({ users: [], roles: [], everyone: true });

    const channelEdit = await send(fake, 'PATCH', `/channels/${fake.channelId}/messages/${id}`, {
      content: `${pinging} edited`,
    });
    expect(channelEdit.status).toBe(200);
    expect(pings(fake, id)).toEqual({ users: [ASKER, SOMEONE], roles: [ROLE], everyone: true });
  });
});
